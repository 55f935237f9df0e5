//! The operating-system details of running the server: which user, and dying with us.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::EmbeddedError;

/// The account the server runs as when we are root (PostgreSQL refuses to run as root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// Size of the buffer getpwnam_r fills; passwd entries are far shorter.
const PASSWD_BUF_LEN: usize = 4096;

fn lookup_user(name: &str) -> Option<RunAs> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; PASSWD_BUF_LEN];
    // SAFETY: getpwnam_r writes only into `pwd` and `buf`, whose sizes we pass; `result`
    // points at `pwd` on success and is null otherwise.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        (rc == 0 && !result.is_null()).then_some(RunAs {
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        })
    }
}

/// `Some(postgres user)` when we are root, `None` when we can run the server ourselves.
pub(crate) fn run_as() -> Result<Option<RunAs>, EmbeddedError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    lookup_user("postgres")
        .map(Some)
        .ok_or(EmbeddedError::NoPostgresUser)
}

/// Applies `run_as` to a command and makes the child receive `signal` when the thread that
/// spawned it dies, so a crash of ours never leaves a server running.
pub(crate) fn configure(cmd: &mut Command, run_as: Option<RunAs>, signal: libc::c_int) {
    if let Some(user) = run_as {
        cmd.uid(user.uid).gid(user.gid);
    }
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and only calls the
    // async-signal-safe functions prctl and getppid. It runs after the uid change, which
    // would otherwise clear the parent-death signal.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other(
                    "parent exited before the server started",
                ));
            }
            Ok(())
        });
    }
}

/// Whether `run_as` can enter `dir` (every parent folder must be searchable by it).
pub(crate) fn can_enter(dir: &Path, run_as: Option<RunAs>, probe: &Path) -> bool {
    let Some(user) = run_as else { return true };
    Command::new(probe)
        .arg("--version")
        .current_dir(dir)
        .uid(user.uid)
        .gid(user.gid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn chown(path: &Path, run_as: Option<RunAs>) -> std::io::Result<()> {
    match run_as {
        Some(user) => std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)),
        None => Ok(()),
    }
}

pub(crate) fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions; pid is our own child.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}
