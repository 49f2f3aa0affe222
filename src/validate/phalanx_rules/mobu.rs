//! mobu's flocks, judged against the mobu version in `applications/mobu/Chart.yaml`.
//!
//! Owns: options a flock's version does not take, `use_cachemachine` where it does not
//! belong, and lab flocks that rely on cachemachine while it is disabled. Does not own:
//! reading mobu's values and version (`repo::nublado::mobu`).

use crate::repo::Phalanx;
use crate::repo::nublado::mobu::{self, Cachemachine, GLOBAL_CACHEMACHINE, Mobu};
use crate::repo::phalanx::Environment;
use crate::util::suggest::closest;
use crate::validate::{Finding, rule};

/// mobu's flocks, judged against the mobu version in `applications/mobu/Chart.yaml`: options
/// it does not take (mobu refuses to start), `use_cachemachine` where it does not belong, and
/// lab flocks that rely on cachemachine (per flock from mobu 6, through the global
/// `config.useCachemachine` in mobu 5) while cachemachine is disabled.
pub(super) fn mobu_rules(p: &Phalanx, env: &Environment, out: &mut Vec<Finding>) {
    let Some(mobu) = Mobu::of(p, &env.name) else {
        return;
    };
    let (rel, doc) = (mobu.rel, mobu.doc);
    let version = mobu.version.clone().unwrap_or_default();
    let major = mobu.major();
    let cachemachine_on = env.enabled.contains("cachemachine");
    let scoped = |f: Finding, flock: &str, what: &str| {
        f.scope(&env.name)
            .subject(format!("{} flock {flock} {what}", env.name))
    };
    for flock in &mobu.flocks {
        let name = flock.name.as_str();
        let btype = flock.business.as_str();
        let use_cm = flock.option("use_cachemachine");
        if let Some(uc) = use_cm {
            if !flock.is_lab() {
                out.push(scoped(
                    Finding::at(rule::MOBU_CACHEMACHINE_NOT_LAB, rel, doc, uc.key_offset, format!("flock `{name}`: `use_cachemachine` is not an option of `{btype}`; mobu refuses to start"))
                        .hint("remove `use_cachemachine` from this flock"),
                    name,
                    "use_cachemachine",
                ));
            } else if major.is_some_and(|m| m >= 7) {
                out.push(scoped(
                    Finding::at(rule::MOBU_CACHEMACHINE_REMOVED, rel, doc, uc.key_offset, format!("flock `{name}`: mobu {} removed `use_cachemachine`; mobu refuses to start", mobu.version_text()))
                        .hint("remove `use_cachemachine`"),
                    name,
                    "use_cachemachine",
                ));
            } else if major == Some(5) {
                out.push(scoped(
                    Finding::at(rule::MOBU_UNKNOWN_OPTION, rel, doc, uc.key_offset, format!("flock `{name}`: `use_cachemachine` is not an option of `{btype}` in mobu {}; mobu refuses to start", mobu.version_text()))
                        .hint(format!("remove it: mobu 5 uses cachemachine for every lab flock or none, with the global `{GLOBAL_CACHEMACHINE}`")),
                    name,
                    "use_cachemachine",
                ));
            }
        }
        if !cachemachine_on
            && let Cachemachine::Uses { how, at } = mobu.cachemachine(p, &env.name, flock)
        {
            let hint = if major == Some(5) {
                format!(
                    "set `{GLOBAL_CACHEMACHINE}: false` in `{rel}` (mobu 5 has no per-flock setting)"
                )
            } else {
                "set `business.options.use_cachemachine: false` for this flock".to_string()
            };
            out.push(scoped(
                Finding::at(rule::MOBU_CACHEMACHINE_DISABLED, rel, doc, at, format!("flock `{name}` relies on cachemachine {how}, but cachemachine is not enabled in `{}`", env.name))
                    .hint(hint),
                name,
                "cachemachine",
            ));
        }
        let known: Option<Vec<&str>> = if flock.is_lab() {
            mobu::lab_options(&version)
        } else if mobu::TAP_TYPES.contains(&btype) {
            mobu::tap_options(&version, btype).map(<[&str]>::to_vec)
        } else {
            None
        };
        let Some(known) = known else { continue };
        for o in &flock.options {
            // `use_cachemachine` has its own findings above.
            if o.key == "use_cachemachine" {
                continue;
            }
            if known.contains(&o.key.as_str()) {
                continue;
            }
            let mut f = Finding::at(
                rule::MOBU_UNKNOWN_OPTION,
                rel,
                doc,
                o.key_offset,
                format!(
                    "flock `{name}`: `{}` is not an option of `{btype}` in mobu {}; mobu refuses to start",
                    o.key,
                    mobu.version_text()
                ),
            );
            if btype == "TAPQueryRunner" && o.key == "query_set" && major.is_some_and(|m| m >= 7) {
                f = f.hint("mobu 7 renamed the business that runs a query set `TAPQuerySetRunner`: change the flock's `type`");
            } else if let Some(c) = closest(&o.key, known.iter().copied()) {
                f = f.hint(format!("did you mean `{c}`?"));
            }
            out.push(scoped(f, name, &o.key));
        }
    }
}
