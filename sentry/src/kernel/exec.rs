//! execve: replacing a process's image with a program from the sandbox's
//! file system (ELF, with an interpreter, or a `#!` script).

use std::sync::Arc;

use super::process::lock;
use super::signal::{SIG_DFL, SIG_IGN};
use super::task::Task;
use crate::errno::{err, Errno, SysResult};
use crate::mm::{elf, page_up, stack, VmaKind};
use crate::spec::MountFlags;
use crate::vfs::{FileOps, FileType, Location, OpenCtx, Resolver};

const MAX_SCRIPT_DEPTH: usize = 4;

/// The program `path` resolved from the working directory, checked for
/// execute permission and opened.
pub fn open_executable(t: &Task, path: &str) -> SysResult<(Location, Arc<dyn FileOps>)> {
    let start = lock(&t.proc.fs).cwd.clone();
    // (The state lock must not be held while the walk runs: /proc takes it.)
    let searcher = Some(lock(&t.proc.state).creds.clone());
    let loc = Resolver {
        mounts: &t.proc.container.mounts,
        root: &t.proc.container.root,
        searcher,
    }
    .resolve(&start, path, true)?;
    let file = open_location(t, &loc)?;
    Ok((loc, file))
}

/// An already resolved program checked for execute permission (on the
/// file and its mount, noexec being EACCES as in Linux's path_noexec)
/// and opened.
fn open_location(t: &Task, loc: &Location) -> SysResult<Arc<dyn FileOps>> {
    let st = loc.inode.stat()?;
    if st.file_type() != FileType::Regular {
        return err(libc::EACCES);
    }
    if mount_flags(t, loc).is_some_and(|f| f.noexec) {
        return err(libc::EACCES);
    }
    let creds = lock(&t.proc.state).creds.clone();
    if !creds.may_access(st.mode, st.uid, st.gid, 1, false) {
        return err(libc::EACCES);
    }
    let ctx = OpenCtx {
        pid: t.pid(),
        mm: &t.mm,
    };
    loc.inode.clone().open(libc::O_RDONLY, &ctx)
}

/// The flags of the mount `loc` lies on.
fn mount_flags(t: &Task, loc: &Location) -> Option<MountFlags> {
    t.proc
        .container
        .mounts
        .containing(&loc.path)
        .map(|(_, m)| m.flags)
}

/// The program an execveat(2) names, already resolved by the caller.
pub struct Program {
    pub loc: Location,
    /// The name Linux gives it (bprm->filename): the path, or
    /// `/dev/fd/N[/path]` for one relative to, or being, a descriptor.
    pub name: String,
    /// A descriptor that execve closes (close-on-exec) names it through
    /// `/dev/fd/N`: a script's interpreter could not open that name
    /// (BINPRM_FLAGS_PATH_INACCESSIBLE), so a script is ENOENT.
    pub name_gone_after_exec: bool,
}

/// Parses a `#!` line: the interpreter and its optional single argument.
fn parse_shebang(head: &[u8]) -> Option<(String, Option<String>)> {
    let line = head.strip_prefix(b"#!")?;
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    let line = std::str::from_utf8(&line[..end]).ok()?.trim();
    let mut parts = line.splitn(2, [' ', '\t']);
    let interp = parts.next()?.to_string();
    if interp.is_empty() {
        return None;
    }
    let arg = parts
        .next()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    Some((interp, arg))
}

/// Replaces the task's image. On success the registers point at the new
/// program's entry (returns EJUSTRETURN); a failure after the old image is
/// gone kills the process.
pub fn execve(t: &mut Task, path: &str, argv: Vec<Vec<u8>>, envp: Vec<Vec<u8>>) -> SysResult<u64> {
    let (loc, _) = open_executable(t, path)?;
    let program = Program {
        loc,
        name: path.to_string(),
        name_gone_after_exec: false,
    };
    execute(t, program, argv, envp)
}

/// Replaces the task's image with `program` (execve and execveat).
pub fn execute(
    t: &mut Task,
    program: Program,
    mut argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> SysResult<u64> {
    let exec_name = program.name.clone();
    let former_tid = t.tid;
    let mut path = program.name.clone();
    let mut first = Some(program.loc);
    let mut depth = 0;
    let (loc, file, image) = loop {
        let (loc, file) = match first.take() {
            Some(loc) => {
                let file = open_location(t, &loc)?;
                (loc, file)
            }
            None => open_executable(t, &path)?,
        };
        let mut head = [0u8; 256];
        let n = file.read(&mut head, 0)?;
        if head[..n].starts_with(b"#!") {
            if depth == 0 && program.name_gone_after_exec {
                return err(libc::ENOENT);
            }
            depth += 1;
            if depth > MAX_SCRIPT_DEPTH {
                return err(libc::ELOOP);
            }
            let (interp, arg) = parse_shebang(&head[..n]).ok_or(Errno(libc::ENOEXEC))?;
            let mut new_argv = vec![interp.clone().into_bytes()];
            if let Some(a) = arg {
                new_argv.push(a.into_bytes());
            }
            new_argv.push(path.clone().into_bytes());
            new_argv.extend(argv.into_iter().skip(1));
            argv = new_argv;
            path = interp;
            continue;
        }
        let read = |buf: &mut [u8], off: u64| file.read(buf, off);
        let image = elf::parse(&read)?;
        break (loc, file, image);
    };
    let interp = match &image.interp {
        Some(p) => {
            let (iloc, ifile) = open_executable(t, p).map_err(|e| {
                if e.0 == libc::ENOENT {
                    Errno(libc::ENOENT)
                } else {
                    e
                }
            })?;
            let read = |buf: &mut [u8], off: u64| ifile.read(buf, off);
            let iimage = elf::parse(&read)?;
            Some((iloc, ifile, iimage))
        }
        None => None,
    };

    // Other threads end first (Linux's de_thread); a non-leader takes
    // over the leader's identity, on a context made before anything ends.
    let takeover = super::dethread::prepare(t)?;
    if t.proc.threads().len() > 1 || takeover.is_some() {
        super::dethread::kill_others(t)?;
    }

    // The old image's robust mutexes are released before it goes, as
    // Linux does at exec; the new image registers its own list.
    let robust = t
        .thread
        .robust_list
        .swap(0, std::sync::atomic::Ordering::Relaxed);
    if robust != 0 {
        super::futex::exit_robust_list(&t.mm, robust, t.tid);
    }
    super::futex_pi::owner_gone(t.tid);
    if let Some(to) = takeover {
        super::dethread::take_over(t, to);
    }

    // A vfork child stops sharing its parent's memory.
    t.return_borrowed_mm()?;

    let setid = setid_ids(t, &loc)?;

    // The point of no return: the old image goes.
    // The new ids first: the image's auxv shows them.
    if let Some(ids) = setid {
        apply_setid(&mut lock(&t.proc.state).creds, ids);
    }
    if let Err(e) = load_image(t, &loc, &file, &image, interp.as_ref(), &argv, &envp) {
        tracing::debug!(
            pid = t.pid(),
            "exec of {path} failed after the point of no return: {e:?}"
        );
        t.exit = Some(super::task::Exit::Signal(libc::SIGSEGV));
        return Err(Errno::EJUSTRETURN);
    }

    // Before close-on-exec descriptors go: a parent that sees one close
    // must find its child already executed (setpgid's EACCES).
    {
        let mut st = lock(&t.proc.state);
        st.has_execed = true;
        st.execs += 1;
    }
    lock(&t.proc.files).close_on_exec();
    // POSIX timers do not survive execve; alarm and setitimer do.
    lock(&t.proc.timers).exec();
    {
        let mut sig = lock(&t.proc.sig);
        for a in sig.actions.iter_mut() {
            if a.handler != SIG_IGN {
                *a = super::signal::SigAction {
                    handler: SIG_DFL,
                    ..Default::default()
                };
            }
        }
    }
    t.altstack = (0, libc::SS_DISABLE, 0);
    t.clear_child_tid = 0;
    {
        let mut st = lock(&t.proc.state);
        // Linux names the process after the file name it was exec'd by.
        st.comm = exec_name
            .rsplit('/')
            .next()
            .unwrap_or("")
            .chars()
            .take(15)
            .collect();
        st.cmdline = argv
            .iter()
            .flat_map(|a| a.iter().copied().chain(std::iter::once(0)))
            .collect();
        st.environ = envp
            .iter()
            .flat_map(|a| a.iter().copied().chain(std::iter::once(0)))
            .collect();
        st.exe = loc.path.clone();
        st.vfork_done = true;
        // No file capabilities in the Sentry: the sets follow from the ids
        // alone (and no_new_privs), keepcaps does not survive exec, and the
        // saved ids become the effective ones.
        let nnp = st.no_new_privs;
        // Dumpable again, unless the program changed the ids (Linux's
        // begin_new_exec with fs.suid_dumpable 0).
        st.dumpable = st.creds.euid == st.creds.uid && st.creds.egid == st.creds.gid;
        let c = &mut st.creds;
        let (uid, euid, bits) = (c.uid, c.euid, c.securebits);
        c.caps.exec(uid, euid, bits, nnp);
        c.securebits &= !super::caps::SECBIT_KEEP_CAPS;
        (c.suid, c.sgid) = (c.euid, c.egid);
    }
    super::events::notify();
    t.regs.rax = 0;
    t.ptrace_exec(former_tid);
    Err(Errno::EJUSTRETURN)
}

/// The effective uid and gid a set-id program gives, where it gives one.
type SetIds = (Option<u32>, Option<u32>);

/// The ids a set-user-ID or set-group-ID program gives (Linux's
/// bprm_fill_uid): its owner as effective uid, its group as effective gid
/// when it is also group-executable; nothing on a nosuid mount or under
/// no_new_privs. None when the program changes no id.
fn setid_ids(t: &Task, loc: &Location) -> SysResult<Option<SetIds>> {
    let st = loc.inode.stat()?;
    let mode = st.mode;
    if mode & (libc::S_ISUID | libc::S_ISGID) == 0
        || mount_flags(t, loc).is_some_and(|f| f.nosuid)
        || lock(&t.proc.state).no_new_privs
    {
        return Ok(None);
    }
    let euid = (mode & libc::S_ISUID != 0).then_some(st.uid);
    let sgid = libc::S_ISGID | libc::S_IXGRP;
    let egid = (mode & sgid == sgid).then_some(st.gid);
    let creds = lock(&t.proc.state).creds.clone();
    let changes = euid.is_some_and(|u| u != creds.euid) || egid.is_some_and(|g| g != creds.egid);
    Ok(changes.then_some((euid, egid)))
}

/// Takes on a set-id program's ids. A change of identity drops the
/// ambient capabilities (cap_bprm_creds_from_file's is_setid).
fn apply_setid(c: &mut super::creds::Creds, (euid, egid): SetIds) {
    if let Some(u) = euid {
        c.euid = u;
    }
    if let Some(g) = egid {
        c.egid = g;
    }
    if c.euid != c.uid || c.egid != c.gid {
        c.caps.ambient = 0;
    }
}

fn file_kind(loc: &Location) -> VmaKind {
    let st = loc.inode.stat().ok();
    VmaKind::File {
        path: loc.path.clone(),
        offset: 0,
        dev: st.map(|s| s.dev).unwrap_or(0),
        ino: st.map(|s| s.ino).unwrap_or(0),
    }
}

fn load_image(
    t: &mut Task,
    loc: &Location,
    file: &Arc<dyn FileOps>,
    image: &elf::ElfImage,
    interp: Option<&(Location, Arc<dyn FileOps>, elf::ElfImage)>,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> SysResult<()> {
    let stack_size = super::rlimits::stack_size(&t.proc);
    let mut mm = t.mm.lock();
    let ctx = &mut *t.ctx;
    mm.clear(ctx)?;
    let read = |buf: &mut [u8], off: u64| file.read(buf, off);
    let main = elf::load(
        &mut mm,
        ctx,
        image,
        &read,
        true,
        file_kind(loc),
        file.content_id(),
    )?;
    let brk = page_up(main.end).ok_or(Errno(libc::ENOEXEC))?;
    mm.brk_start = brk;
    mm.brk = brk;
    let mut entry = main.entry;
    let mut base = 0;
    if let Some((iloc, ifile, iimage)) = interp {
        let read = |buf: &mut [u8], off: u64| ifile.read(buf, off);
        let l = elf::load(
            &mut mm,
            ctx,
            iimage,
            &read,
            false,
            file_kind(iloc),
            ifile.content_id(),
        )?;
        entry = l.entry;
        base = l.bias;
    }
    let vdso = crate::vdso::map(&mut mm, ctx)?;
    let creds = lock(&t.proc.state).creds.clone();
    // SAFETY: getauxval has no preconditions.
    let hwcap = unsafe { libc::getauxval(libc::AT_HWCAP) };
    // Linux puts AT_SYSINFO_EHDR first.
    let mut auxv: Vec<(u64, u64)> = vdso
        .map(|base| (stack::AT_SYSINFO_EHDR, base))
        .into_iter()
        .collect();
    auxv.extend([
        (stack::AT_PHDR, main.phdr_addr),
        (stack::AT_PHENT, 56),
        (stack::AT_PHNUM, main.phnum),
        (stack::AT_PAGESZ, 4096),
        (stack::AT_BASE, base),
        (stack::AT_FLAGS, 0),
        (stack::AT_ENTRY, main.entry),
        (stack::AT_UID, creds.uid as u64),
        (stack::AT_EUID, creds.euid as u64),
        (stack::AT_GID, creds.gid as u64),
        (stack::AT_EGID, creds.egid as u64),
        // glibc's secure mode (no LD_PRELOAD and the like) when the
        // effective ids are not the real ones: a set-id program, or a caller
        // that had changed them (Linux's secureexec for is_setid).
        (
            stack::AT_SECURE,
            (creds.euid != creds.uid || creds.egid != creds.gid) as u64,
        ),
        (stack::AT_HWCAP, hwcap),
        (stack::AT_CLKTCK, 100),
    ]);
    let sp = stack::build(
        &mut mm,
        ctx,
        stack_size,
        argv,
        envp,
        loc.path.as_bytes(),
        auxv,
    )?;
    let (cs, ss) = (t.regs.cs, t.regs.ss);
    // SAFETY: user_regs_struct is plain data; zero is valid.
    t.regs = unsafe { std::mem::zeroed() };
    t.regs.cs = cs;
    t.regs.ss = ss;
    t.regs.rip = entry;
    t.regs.rsp = sp;
    t.regs.eflags = 0x202;
    Ok(())
}
