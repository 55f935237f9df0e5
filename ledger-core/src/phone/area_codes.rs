//! The Argentine geographic area codes (códigos de área), without the trunk `0`, and the
//! split of a 10-digit national number into area code and subscriber number.
//!
//! Source: ENACOM's national numbering plan (Plan Fundamental de Numeración Nacional), as
//! I know it, cross-checked code by code against the Argentine metadata of Google's
//! libphonenumber. Every area code plus its subscriber number is 10 digits: Buenos Aires
//! (`11`) has 8-digit numbers, the 3-digit areas (the large cities) 7, the 4-digit ones 6.
//!
//! A 4-digit code may begin with a 3-digit one (`2202` González Catán, `220` Merlo; `3435`
//! Nogoyá, `343` Paraná): the plan keeps them apart by the first subscriber digit, so the
//! longest known code wins. A number in a range the table does not know (a code created
//! later) is split as 4 + 6 digits, the shape of most codes; the split is then possibly
//! off by a digit, but the 10 digits, all that a provider dials, are still right.

/// Buenos Aires and its metropolitan area (AMBA), the only 2-digit code.
pub(super) const BUENOS_AIRES: &str = "11";

/// How many digits an area code has when the table does not know it: most Argentine codes
/// have 4 (261 of the 300 in this table).
const DEFAULT_AREA_CODE_LEN: usize = 4;

/// The 3-digit codes: the large cities.
const AREA_CODES_3: [&str; 38] = [
    "220", // Merlo (Buenos Aires)
    "221", // La Plata
    "223", // Mar del Plata
    "230", // Pilar
    "236", // Junín
    "237", // Moreno
    "249", // Tandil
    "260", // San Rafael
    "261", // Mendoza
    "263", // San Martín (Mendoza)
    "264", // San Juan
    "266", // San Luis
    "280", // Trelew
    "291", // Bahía Blanca
    "294", // San Carlos de Bariloche
    "297", // Comodoro Rivadavia
    "298", // General Roca
    "299", // Neuquén
    "336", // San Nicolás de los Arroyos
    "341", // Rosario
    "342", // Santa Fe
    "343", // Paraná
    "345", // Concordia
    "348", // Escobar
    "351", // Córdoba
    "353", // Villa María
    "358", // Río Cuarto
    "362", // Resistencia
    "364", // Presidencia Roque Sáenz Peña
    "370", // Formosa
    "376", // Posadas
    "379", // Corrientes
    "380", // La Rioja
    "381", // San Miguel de Tucumán
    "383", // San Fernando del Valle de Catamarca
    "385", // Santiago del Estero
    "387", // Salta
    "388", // San Salvador de Jujuy
];

/// The 4-digit codes: smaller towns (`2966` Río Gallegos, `2901` Ushuaia, `2954` Santa
/// Rosa, `2920` Viedma, `3487` Zárate, `3537` Bell Ville, …).
const AREA_CODES_4: [&str; 261] = [
    // 22xx: Buenos Aires province.
    "2202", "2221", "2223", "2224", "2225", "2226", "2227", "2229", "2241", "2242", "2243", "2244",
    "2245", "2246", "2252", "2254", "2255", "2257", "2261", "2262", "2264", "2265", "2266", "2267",
    "2268", "2271", "2272", "2273", "2274", "2281", "2283", "2284", "2285", "2286", "2291", "2292",
    "2296", "2297", // 23xx: Buenos Aires province; 2302 General Pico (La Pampa).
    "2302", "2314", "2316", "2317", "2320", "2323", "2324", "2325", "2326", "2331", "2333", "2334",
    "2335", "2336", "2337", "2338", "2342", "2343", "2344", "2345", "2346", "2352", "2353", "2354",
    "2355", "2356", "2357", "2358", "2392", "2393", "2394", "2395", "2396",
    // 24xx: Buenos Aires province.
    "2473", "2474", "2475", "2477", "2478", // 26xx: Mendoza, San Juan, San Luis.
    "2622", "2624", "2625", "2626", "2646", "2647", "2648", "2651", "2655", "2656", "2657", "2658",
    // 29xx: Patagonia, La Pampa and the south of Buenos Aires province.
    "2901", "2902", "2903", "2920", "2921", "2922", "2923", "2924", "2925", "2926", "2927", "2928",
    "2929", "2931", "2932", "2933", "2934", "2935", "2936", "2940", "2942", "2945", "2946", "2948",
    "2952", "2953", "2954", "2962", "2963", "2964", "2966", "2972", "2982", "2983",
    // 33xx: north of Buenos Aires province, south of Santa Fe.
    "3327", "3329", "3382", "3385", "3387", "3388",
    // 34xx: Santa Fe, Entre Ríos, north of Buenos Aires province.
    "3400", "3401", "3402", "3404", "3405", "3406", "3407", "3408", "3409", "3435", "3436", "3437",
    "3438", "3442", "3444", "3445", "3446", "3447", "3454", "3455", "3456", "3458", "3460", "3462",
    "3463", "3464", "3465", "3466", "3467", "3468", "3469", "3471", "3472", "3476", "3482", "3483",
    "3487", "3489", "3491", "3492", "3493", "3496", "3497", "3498", // 35xx: Córdoba.
    "3521", "3522", "3524", "3525", "3532", "3533", "3537", "3541", "3542", "3543", "3544", "3546",
    "3547", "3548", "3549", "3562", "3563", "3564", "3571", "3572", "3573", "3574", "3575", "3576",
    "3582", "3583", "3584", "3585", // 37xx: Formosa, Chaco, Misiones, Corrientes.
    "3711", "3715", "3716", "3718", "3721", "3725", "3731", "3734", "3735", "3741", "3743", "3751",
    "3754", "3755", "3756", "3757", "3758", "3772", "3773", "3774", "3775", "3777", "3781", "3782",
    "3786", // 38xx: La Rioja, Catamarca, Tucumán, Santiago del Estero, Salta, Jujuy.
    "3821", "3825", "3826", "3827", "3832", "3835", "3837", "3838", "3841", "3843", "3844", "3845",
    "3846", "3854", "3855", "3856", "3857", "3858", "3861", "3862", "3863", "3865", "3867", "3868",
    "3869", "3873", "3876", "3877", "3878", "3885", "3886", "3887", "3888", "3891", "3892", "3894",
];

/// How many leading digits of the national number `digits` (no trunk `0`, no `15`) are its
/// area code: the longest code of the table it begins with; for an unknown number in the
/// `2`/`3` ranges, [`DEFAULT_AREA_CODE_LEN`]; `None` when it cannot be geographic (`0800`
/// toll-free, `0810`, `0600` and anything else outside `11`, `2…`, `3…`).
pub(super) fn area_code_len(digits: &str) -> Option<usize> {
    let known = |table: &[&str], len: usize| digits.get(..len).is_some_and(|p| table.contains(&p));
    if digits.starts_with(BUENOS_AIRES) {
        Some(BUENOS_AIRES.len())
    } else if known(&AREA_CODES_4, 4) {
        Some(4)
    } else if known(&AREA_CODES_3, 3) {
        Some(3)
    } else if digits.starts_with(['2', '3']) {
        Some(DEFAULT_AREA_CODE_LEN)
    } else {
        None
    }
}

#[cfg(test)]
pub(super) fn tables() -> (&'static [&'static str], &'static [&'static str]) {
    (&AREA_CODES_3, &AREA_CODES_4)
}
