//! `mlreg check`: a registry folder (optionally compared with a previous build), or lone Azure
//! spec files, into one report.

use super::{build::compare_with, emit, fail, registry_dir};
use crate::cli::{CheckArgs, KindArg};
use crate::diag::Severity;
use crate::publish::plan;
use crate::registry::{self, kind::Kind};

pub fn run(args: CheckArgs) -> u8 {
    let mut display = String::new();
    let mut outcome = if args.spec.is_empty() {
        display = match registry_dir(&args.dir) {
            Ok(d) => d,
            Err(code) => return code,
        };
        registry::check(&args.dir, &display)
    } else {
        let kind = args.kind.map(|k| match k {
            KindArg::Model => Kind::Model,
            KindArg::Environment => Kind::Environment,
            KindArg::Data => Kind::Data,
            KindArg::Component => Kind::Component,
        });
        registry::check_specs(&args.spec, kind, !args.no_file_check)
    };
    if let (Some(prev), Some((loaded, registry))) = (&args.against, &outcome.registry)
        && outcome.report.count(Severity::Error) == 0
    {
        let compared = plan::plan(&args.dir, loaded, registry).and_then(|planned| {
            compare_with(prev, &planned, loaded, &display, &mut outcome.report)
        });
        if let Err(e) = compared {
            return fail(e);
        }
    }
    emit(
        &outcome.report,
        &args.report,
        &format!("checked {}", outcome.subject),
    )
}
