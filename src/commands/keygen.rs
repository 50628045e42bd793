//! `mlreg keygen [--out PATH] [--no-password]`: a minisign key pair for signing roots, written
//! to PATH.key (mode 0600, never over an existing file) and PATH.pub, and the public key printed
//! for registry.yaml.

use super::{EXIT_OK, Ui};
use crate::cli::KeygenArgs;
use crate::publish::sign;
use std::io::{IsTerminal, Write};

pub fn run(ui: &Ui, args: KeygenArgs) -> u8 {
    // Some(None): encrypted with a password minisign asks for on the terminal.
    let password = match std::env::var(sign::PASSWORD_ENV) {
        Ok(p) if !p.is_empty() => Some(Some(p)),
        _ if args.no_password => None,
        _ if std::io::stdin().is_terminal() => Some(None),
        _ => {
            return ui.fail(format_args!(
                "no password for the secret key: set {}, or give --no-password to leave it unencrypted",
                sign::PASSWORD_ENV
            ));
        }
    };
    let made = sign::keygen(password);
    let (secret, public) = match made {
        Ok(pair) => pair,
        Err(e) => return ui.fail(e),
    };
    let path = |ext: &str| {
        let mut p = args.out.clone().into_os_string();
        p.push(ext);
        std::path::PathBuf::from(p)
    };
    let (key, pubfile) = (path(".key"), path(".pub"));
    if let Err(e) = write_new(&key, secret.as_bytes(), true).and_then(|_| {
        write_new(
            &pubfile,
            format!("untrusted comment: mlreg public key\n{public}\n").as_bytes(),
            false,
        )
    }) {
        return ui.fail(e);
    }
    if let Err(code) = ui.out(&format!("{public}\n")) {
        return code;
    }
    ui.status(format_args!(
        "wrote {} (secret: keep it out of the repository; in CI give its text in {}) and {}\nlist the public key in registry.yaml:\n  trust:\n    keys: [{public}]",
        key.display(),
        sign::KEY_ENV,
        pubfile.display()
    ));
    EXIT_OK
}

/// Write a file that must not exist yet; a secret one readable by its owner only.
fn write_new(path: &std::path::Path, bytes: &[u8], secret: bool) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            format!(
                "`{}` exists already: mlreg does not overwrite keys",
                path.display()
            )
        }
        _ => format!("cannot write `{}`: {e}", path.display()),
    })?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}
