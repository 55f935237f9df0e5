//! Secrets from the environment: `NAME` or `NAME_FILE` (a file holding the value, as
//! container secrets are mounted). A `Secret` never prints its value.

use std::fmt;

/// A secret value. `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that uses it (a MAC key, an Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Longest secret file read: secrets are short; a bound stops a mistaken path to a big file.
const MAX_SECRET_FILE_BYTES: u64 = 16 * 1024;

/// Reads `name` or `<name>_FILE` through `lookup`. Both set is an error; an unreadable or
/// empty file is an error naming the variable (never the value).
pub fn secret(
    name: &'static str,
    file_name: &'static str,
    lookup: &dyn Fn(&'static str) -> Result<Option<String>, crate::config::ConfigError>,
) -> Result<Option<Secret>, crate::config::ConfigError> {
    let invalid = |n: &'static str, reason: &str| crate::config::ConfigError {
        name: n,
        reason: reason.to_owned(),
    };
    match (lookup(name)?, lookup(file_name)?) {
        (Some(_), Some(_)) => Err(invalid(
            file_name,
            "set the variable or its _FILE form, not both",
        )),
        (Some(v), None) => Ok(Some(Secret(v.trim().to_owned()))),
        (None, Some(path)) => {
            use std::io::Read;
            let file = std::fs::File::open(path.trim())
                .map_err(|_| invalid(file_name, "cannot read the file"))?;
            let mut text = String::new();
            file.take(MAX_SECRET_FILE_BYTES)
                .read_to_string(&mut text)
                .map_err(|_| invalid(file_name, "the file is not UTF-8 text"))?;
            let text = text.trim().to_owned();
            if text.is_empty() {
                return Err(invalid(file_name, "the file is empty"));
            }
            Ok(Some(Secret(text)))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_and_reads_files() {
        let s = Secret::new("whsec_abc");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        let dir = std::env::temp_dir().join(format!("ledger-secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        std::fs::write(&path, "whsec_xyz\n").unwrap();
        let p = path.to_str().unwrap().to_owned();
        let lookup = move |n: &'static str| Ok(if n == "X_FILE" { Some(p.clone()) } else { None });
        assert_eq!(
            secret("X", "X_FILE", &lookup).unwrap().unwrap().expose(),
            "whsec_xyz"
        );
        let both = |_: &'static str| Ok(Some("v".to_string()));
        assert_eq!(secret("X", "X_FILE", &both).unwrap_err().name, "X_FILE");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
