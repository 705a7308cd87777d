//! Ergo's t005 (monitor) and t006 (link) cases, in our words: every target kind (Pid, name,
//! alias, event) against every way a target goes (normal, shutdown, a custom reason, panic, kill,
//! and for names, aliases and events being unregistered while the process lives on).
#![allow(dead_code)]

use super::agent::*;
use ergors::{ExitReason, MessageDown, MessageExit, NodeHandle, Target};

#[derive(Clone, Copy, Debug)]
pub enum Form {
    Pid,
    Name,
    Alias,
    Event,
}

#[derive(Clone, Copy, Debug)]
pub enum How {
    Normal,
    Shutdown,
    Custom,
    Panic,
    Kill,
    Unregister,
}

pub const FORMS: [Form; 4] = [Form::Pid, Form::Name, Form::Alias, Form::Event];
pub const HOWS: [How; 6] = [How::Normal, How::Shutdown, How::Custom, How::Panic, How::Kill, How::Unregister];

/// Runs one case: `watcher` (trapping exits when `link`) links or monitors a fresh target in
/// `form`, the target goes `how`, and the watcher must get exactly one exit or down with the
/// right target and reason, its relation listed before and gone after.
pub fn case(h: &NodeHandle, n: usize, form: Form, how: How, link: bool) {
    if matches!((form, how), (Form::Pid, How::Unregister)) {
        return; // a Pid cannot be unregistered
    }
    let label = format!("{form:?}/{how:?}/{}", if link { "link" } else { "monitor" });
    let (t, _trx) = agent(h, false);
    let (w, wrx) = agent(h, link);
    let name = format!("matrix-{n}");
    let target = match form {
        Form::Pid => Target::Pid(t),
        Form::Name => {
            h.register_name(&name, t).unwrap();
            Target::Name(h.process_id(&name))
        }
        Form::Alias => Target::Alias(on(h, t, |ctx| ctx.create_alias().unwrap())),
        Form::Event => {
            let ev = name.clone();
            on(h, t, move |ctx| ctx.register_event(&ev, Default::default()).unwrap());
            Target::Event(h.event(&name))
        }
    };
    let watched = target.clone();
    let made = on(h, w, move |ctx| if link { ctx.link(watched) } else { ctx.monitor(watched) });
    assert_eq!(made, Ok(()), "{label}");
    let holds = |h: &NodeHandle| {
        let info = h.process_info(w).unwrap();
        if link { info.links.contains(&target) } else { info.monitors.contains(&target) }
    };
    assert!(holds(h), "{label}: the watcher lists the relation");
    let want = match how {
        How::Normal => {
            h.send(t, Stop(ExitReason::Normal)).unwrap();
            Some(ExitReason::Normal)
        }
        How::Shutdown => {
            h.send_exit(t, ExitReason::Shutdown).unwrap();
            Some(ExitReason::Shutdown)
        }
        How::Custom => {
            h.send(t, Stop(ExitReason::error("custom"))).unwrap();
            Some(ExitReason::error("custom"))
        }
        How::Panic => {
            h.send(t, Panic).unwrap();
            None
        }
        How::Kill => {
            h.kill(t).unwrap();
            Some(ExitReason::Kill)
        }
        How::Unregister => {
            let target = target.clone();
            let ev = name.clone();
            on(h, t, move |ctx| match target {
                Target::Name(_) => ctx.unregister_name(),
                Target::Alias(a) => ctx.delete_alias(a),
                _ => ctx.unregister_event(&ev),
            })
            .unwrap();
            Some(ExitReason::Unregistered)
        }
    };
    let (got_target, got_reason) = if link {
        let (_, exit) = next_msg::<MessageExit>(&wrx);
        (exit.target, exit.reason)
    } else {
        let (_, down) = next_msg::<MessageDown>(&wrx);
        (down.target, down.reason)
    };
    assert_eq!(got_target, target, "{label}");
    match want {
        Some(reason) => assert_eq!(got_reason, reason, "{label}"),
        None => assert!(matches!(got_reason, ExitReason::Panic(_)), "{label}: {got_reason:?}"),
    }
    assert!(!holds(h), "{label}: a fired relation is gone");
    assert!(quiet(&wrx), "{label}: fired once");
    assert_eq!(h.is_alive(t), matches!(how, How::Unregister), "{label}");
    assert!(h.is_alive(w), "{label}: the watcher lives on");
    if h.is_alive(t) {
        h.kill(t).unwrap();
    }
    h.kill(w).unwrap();
}

/// Every target kind against every way a target can go, as links (`link`) or monitors.
pub fn every_case(h: &NodeHandle, link: bool) {
    let mut n = 0;
    for form in FORMS {
        for how in HOWS {
            n += 1;
            case(h, n, form, how, link);
        }
    }
}
