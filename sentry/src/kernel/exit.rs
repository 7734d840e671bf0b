//! Process exit: the zombie, the parent's SIGCHLD, orphans, and the end of
//! the sandbox when init dies.

use std::sync::Arc;

use super::process::{lock, Process};
use super::signal::{self, SigInfo};
use super::task::Exit;
use super::{events, Kernel};

pub fn exit_process(k: &Arc<Kernel>, p: &Arc<Process>, exit: Exit) {
    let status = exit.wait_status();
    let (ppid, notify, children, uid, pgid, sid) = {
        let mut st = lock(&p.state);
        st.zombie = Some(status);
        st.vfork_done = true;
        (
            st.ppid,
            st.exit_notify.take(),
            std::mem::take(&mut st.children),
            st.creds.uid,
            st.pgid,
            st.sid,
        )
    };
    lock(&p.sig).pending.clear();
    // Its tracees go free.
    super::ptrace::tracer_exited(k, p);
    // Its POSIX record locks go with it.
    crate::vfs::locks::release(crate::vfs::locks::Owner::Process(p.pid), None);
    // A dead process's timers stop (dropping them disarms them).
    drop(std::mem::take(&mut *lock(&p.timers)));
    // Its SEM_UNDO adjustments apply.
    super::ipc::sem::exit(p.pid);
    // Orphans go to their pid namespace's init: the container's own, or
    // the sandbox's.
    let own = p
        .container
        .own_pid_namespace
        .then(|| p.container.init_pid());
    let init = [own, Some(1)]
        .into_iter()
        .flatten()
        .filter(|&pid| pid > 0 && pid != p.pid)
        .find_map(|pid| k.process(pid).filter(|i| !i.is_zombie()));
    let mut child_groups = Vec::new();
    for c in children {
        let Some(cp) = k.process(c) else { continue };
        {
            let cs = lock(&cp.state);
            if cs.zombie.is_none() && cs.pgid != pgid && cs.sid == sid {
                child_groups.push(cs.pgid);
            }
        }
        let (zombie, deathsig) = {
            let mut cs = lock(&cp.state);
            cs.ppid = init.as_ref().map_or(0, |i| i.pid);
            (cs.zombie.is_some(), cs.pdeathsig)
        };
        // prctl(PR_SET_PDEATHSIG): the orphan is told its parent died.
        if deathsig != 0 && !zombie {
            k.send_signal(&cp, SigInfo::user(deathsig, p.pid, uid), false);
        }
        match &init {
            Some(i) => {
                lock(&i.state).children.insert(c);
                i.children_seq.bump();
                if zombie {
                    k.send_signal(i, SigInfo::new(libc::SIGCHLD, signal::CLD_EXITED), false);
                }
            }
            None if zombie => k.release(c),
            None => {}
        }
    }
    if p.pid == 1 {
        k.kill_all();
    } else {
        // Groups this exit may orphan: a child's, in the same session
        // (the child's link to the session was this process), and this
        // process's own, when its parent was its link.
        child_groups.sort_unstable();
        child_groups.dedup();
        for g in child_groups {
            k.hang_up_if_orphaned(g, p.pid);
        }
        let parent_links = k.process(ppid).is_some_and(|parent| {
            let ps = lock(&parent.state);
            ppid != 0 && ps.pgid != pgid && ps.sid == sid
        });
        if parent_links {
            k.hang_up_if_orphaned(pgid, p.pid);
        }
    }
    if let Some(tx) = notify {
        let _ = tx.send(status);
    }
    let parent = if ppid == 0 { None } else { k.process(ppid) };
    match parent {
        None => k.release(p.pid),
        Some(parent) => {
            let auto_reap = {
                let sig = lock(&parent.sig);
                let a = sig.actions[libc::SIGCHLD as usize];
                a.handler == signal::SIG_IGN || a.flags & signal::SA_NOCLDWAIT != 0
            };
            if auto_reap {
                lock(&parent.state).children.remove(&p.pid);
                k.release(p.pid);
            } else {
                let (code, st) = match exit {
                    Exit::Code(c) => (signal::CLD_EXITED, c),
                    Exit::Signal(s) => (signal::CLD_KILLED, s),
                };
                k.send_signal(&parent, SigInfo::child(p.pid, uid, code, st), false);
            }
            parent.children_seq.bump();
        }
    }
    events::notify();
}
