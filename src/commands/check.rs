//! `mlreg check`: a registry folder (optionally compared with a previous build), or lone Azure
//! spec files, into one report.

use super::{Ui, build::load_previous, emit, registry_dir};
use crate::cli::{CheckArgs, KindArg};
use crate::diag::Severity;
use crate::publish::{against, plan};
use crate::registry::{self, kind::Kind};

pub fn run(ui: &Ui, args: CheckArgs) -> u8 {
    let mut display = String::new();
    let mut outcome = if args.spec.is_empty() {
        display = match registry_dir(ui, &args.dir) {
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
    // Against a previous build: what `build --against` would say, without building, whatever
    // else is wrong.
    if let (Some(prev), Some((loaded, registry))) = (&args.against, &mut outcome.registry) {
        let previous = match load_previous(prev) {
            Ok(p) => p,
            Err(e) => return ui.fail(e),
        };
        let report = &mut outcome.report;
        report.extend(against::keep_pins(&previous, registry, loaded));
        match plan::plan(&args.dir, loaded, registry) {
            Ok(planned) => {
                let published = previous.published();
                report.extend(against::compare(
                    &published,
                    &planned.docs,
                    loaded,
                    &display,
                ));
            }
            // A registry with errors may not plan (a file it names is unreadable): those
            // errors are reported already.
            Err(_) if report.count(Severity::Error) > 0 => {}
            Err(e) => return ui.fail(e),
        }
        registry::settle(report, &outcome.lints);
    }
    let code = emit(
        ui,
        &outcome.report,
        &args.report,
        &format!("checked {}", outcome.subject),
    );
    // The process ends next: freeing a large registry's allocations one by one
    // would only delay that (by a quarter of a second at 100,000 versions).
    std::mem::forget(outcome);
    code
}
