//! The system call table: number → handler. Handlers are grouped by area
//! (files, paths, processes, signals, memory, time and identity). A number
//! without a handler returns ENOSYS and is logged at debug level: no call
//! of the workload is ever passed through to the host.

mod caps;
mod clone3;
mod events;
mod file;
mod fs;
mod inotify;
mod ipc;
mod locks;
mod memfd;
mod misc;
mod mlock;
mod mm;
mod mqueue;
mod netlink;
mod process;
mod ptrace;
mod sched;
mod select;
mod signal;
mod socket;
mod sockmsg;
mod splice;
mod statfs;
pub mod stats;
mod sync;
mod timers;
mod utime;
mod vectored;
mod wait;
mod xattr;

use std::sync::Arc;

use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::vfs::{Location, OpenFile, Resolver};

pub type Args = [u64; 6];

#[allow(non_upper_case_globals)]
pub fn dispatch(t: &mut Task, nr: u64, a: Args) -> SysResult<u64> {
    use libc::*;
    let nr = nr as i64;
    if (SYS_socket..=SYS_getsockopt).contains(&nr)
        || [SYS_accept4, SYS_recvmmsg, SYS_sendmmsg].contains(&nr)
    {
        // Netlink sockets have their own handlers.
        if let Some(r) = netlink::dispatch(t, nr, a) {
            return r;
        }
    }
    match nr {
        SYS_read | SYS_pread64 | SYS_readv | SYS_preadv | SYS_preadv2 => t.proc.io.read_call(),
        SYS_write | SYS_pwrite64 | SYS_writev | SYS_pwritev | SYS_pwritev2 => {
            t.proc.io.write_call()
        }
        _ => {}
    }
    match nr {
        SYS_read => file::read(t, a),
        SYS_write => file::write(t, a),
        SYS_open => fs::open(t, AT_FDCWD as u64, a[0], a[1], a[2]),
        SYS_openat => fs::open(t, a[0], a[1], a[2], a[3]),
        SYS_creat => fs::open(
            t,
            AT_FDCWD as u64,
            a[0],
            (O_CREAT | O_WRONLY | O_TRUNC) as u64,
            a[1],
        ),
        SYS_close => file::close(t, a),
        SYS_stat => fs::stat_at(t, AT_FDCWD as u64, a[0], a[1], 0),
        SYS_lstat => fs::stat_at(t, AT_FDCWD as u64, a[0], a[1], AT_SYMLINK_NOFOLLOW as u64),
        SYS_newfstatat => fs::stat_at(t, a[0], a[1], a[2], a[3]),
        SYS_fstat => file::fstat(t, a),
        SYS_statx => fs::statx(t, a),
        SYS_lseek => file::lseek(t, a),
        SYS_ioctl => file::ioctl(t, a),
        SYS_pread64 => file::pread(t, a),
        SYS_pwrite64 => file::pwrite(t, a),
        SYS_readv => file::readv(t, a),
        SYS_writev => file::writev(t, a),
        SYS_pipe => file::pipe2(t, a[0], 0),
        SYS_pipe2 => file::pipe2(t, a[0], a[1]),
        SYS_dup => file::dup(t, a),
        SYS_dup2 => file::dup3(t, a[0], a[1], 0, true),
        SYS_dup3 => file::dup3(t, a[0], a[1], a[2], false),
        SYS_fcntl => file::fcntl(t, a),
        SYS_flock => locks::flock(t, a),
        SYS_memfd_create => memfd::memfd_create(t, a),
        SYS_fsync | SYS_fdatasync => file::fsync(t, a),
        SYS_ftruncate => file::ftruncate(t, a),
        SYS_getdents64 => file::getdents64(t, a),
        SYS_getdents => file::getdents(t, a),
        SYS_sendfile => file::sendfile(t, a),
        SYS_splice => splice::splice(t, a),
        SYS_tee => splice::tee(t, a),
        SYS_vmsplice => splice::vmsplice(t, a),
        SYS_fallocate => file::fallocate(t, a),
        SYS_copy_file_range => file::copy_file_range(t, a),
        SYS_close_range => file::close_range(t, a),
        SYS_poll => file::poll(t, a[0], a[1], a[2] as i32 as i64),
        SYS_ppoll => file::ppoll(t, a),
        SYS_select => select::select(t, a),
        SYS_pselect6 => select::pselect6(t, a),
        SYS_access => fs::access(t, AT_FDCWD as u64, a[0], a[1], 0),
        SYS_faccessat => fs::access(t, a[0], a[1], a[2], 0),
        SYS_faccessat2 => fs::access(t, a[0], a[1], a[2], a[3]),
        SYS_readlink => fs::readlink(t, AT_FDCWD as u64, a[0], a[1], a[2]),
        SYS_readlinkat => fs::readlink(t, a[0], a[1], a[2], a[3]),
        SYS_mkdir => fs::mkdir(t, AT_FDCWD as u64, a[0], a[1]),
        SYS_mkdirat => fs::mkdir(t, a[0], a[1], a[2]),
        SYS_mknod => fs::mknod(t, AT_FDCWD as u64, a[0], a[1]),
        SYS_mknodat => fs::mknod(t, a[0], a[1], a[2]),
        SYS_unlink => fs::unlink(t, AT_FDCWD as u64, a[0], 0),
        SYS_rmdir => fs::unlink(t, AT_FDCWD as u64, a[0], AT_REMOVEDIR as u64),
        SYS_unlinkat => fs::unlink(t, a[0], a[1], a[2]),
        SYS_rename => fs::rename(t, AT_FDCWD as u64, a[0], AT_FDCWD as u64, a[1], 0),
        SYS_renameat => fs::rename(t, a[0], a[1], a[2], a[3], 0),
        SYS_renameat2 => fs::rename(t, a[0], a[1], a[2], a[3], a[4]),
        SYS_symlink => fs::symlink(t, a[0], AT_FDCWD as u64, a[1]),
        SYS_symlinkat => fs::symlink(t, a[0], a[1], a[2]),
        SYS_link => fs::link(t, AT_FDCWD as u64, a[0], AT_FDCWD as u64, a[1], 0),
        SYS_linkat => fs::link(t, a[0], a[1], a[2], a[3], a[4]),
        SYS_chdir => fs::chdir(t, a),
        SYS_fchdir => fs::fchdir(t, a),
        SYS_getcwd => fs::getcwd(t, a),
        SYS_chmod => fs::chmod(t, AT_FDCWD as u64, a[0], a[1]),
        SYS_fchmodat => fs::chmod(t, a[0], a[1], a[2]),
        SYS_fchmod => fs::fchmod(t, a),
        SYS_chown => fs::chown(t, AT_FDCWD as u64, a[0], a[1], a[2], 0),
        SYS_lchown => fs::chown(
            t,
            AT_FDCWD as u64,
            a[0],
            a[1],
            a[2],
            AT_SYMLINK_NOFOLLOW as u64,
        ),
        SYS_fchownat => fs::chown(t, a[0], a[1], a[2], a[3], a[4]),
        SYS_fchown => fs::fchown(t, a),
        SYS_umask => fs::umask(t, a),
        SYS_truncate => fs::truncate(t, a),
        SYS_utimensat => fs::utimensat(t, a),
        SYS_utime => utime::utime(t, a),
        SYS_utimes => utime::utimes(t, a),
        SYS_futimesat => utime::futimesat(t, a),
        SYS_preadv => vectored::preadv(t, a),
        SYS_pwritev => vectored::pwritev(t, a),
        SYS_preadv2 => vectored::preadv2(t, a),
        SYS_pwritev2 => vectored::pwritev2(t, a),
        SYS_sync => sync::sync(t),
        SYS_syncfs => sync::syncfs(t, a),
        SYS_sync_file_range => sync::sync_file_range(t, a),
        SYS_fadvise64 => sync::fadvise64(t, a),
        SYS_statfs => self::statfs::statfs(t, a),
        SYS_fstatfs => self::statfs::fstatfs(t, a),
        SYS_setxattr => xattr::setxattr(t, xattr::By::Path { follow: true }, a),
        SYS_lsetxattr => xattr::setxattr(t, xattr::By::Path { follow: false }, a),
        SYS_fsetxattr => xattr::setxattr(t, xattr::By::Fd, a),
        SYS_getxattr => xattr::getxattr(t, xattr::By::Path { follow: true }, a),
        SYS_lgetxattr => xattr::getxattr(t, xattr::By::Path { follow: false }, a),
        SYS_fgetxattr => xattr::getxattr(t, xattr::By::Fd, a),
        SYS_listxattr => xattr::listxattr(t, xattr::By::Path { follow: true }, a),
        SYS_llistxattr => xattr::listxattr(t, xattr::By::Path { follow: false }, a),
        SYS_flistxattr => xattr::listxattr(t, xattr::By::Fd, a),
        SYS_removexattr => xattr::removexattr(t, xattr::By::Path { follow: true }, a),
        SYS_lremovexattr => xattr::removexattr(t, xattr::By::Path { follow: false }, a),
        SYS_fremovexattr => xattr::removexattr(t, xattr::By::Fd, a),
        SYS_inotify_init => inotify::inotify_init1(t, 0),
        SYS_inotify_init1 => inotify::inotify_init1(t, a[0]),
        SYS_inotify_add_watch => inotify::inotify_add_watch(t, a),
        SYS_inotify_rm_watch => inotify::inotify_rm_watch(t, a),
        SYS_getpid => Ok(t.pid() as u64),
        SYS_gettid => Ok(t.tid as u64),
        SYS_getppid => Ok(lock(&t.proc.state).ppid as u64),
        SYS_fork => process::clone(t, SIGCHLD as u64, 0, 0, 0, 0),
        SYS_vfork => process::clone(t, (CLONE_VM | CLONE_VFORK | SIGCHLD) as u64, 0, 0, 0, 0),
        SYS_clone => process::clone(t, a[0], a[1], a[2], a[3], a[4]),
        SYS_clone3 => clone3::clone3(t, a),
        SYS_execve => process::execve(t, a),
        SYS_execveat => process::execveat(t, a),
        SYS_exit => process::exit(t, a),
        SYS_exit_group => process::exit_group(t, a),
        SYS_wait4 => wait::wait4(t, a),
        SYS_ptrace => ptrace::ptrace(t, a),
        SYS_waitid => wait::waitid(t, a),
        SYS_kill => process::kill(t, a),
        SYS_tkill => process::tkill(t, 0, a[0], a[1]),
        SYS_tgkill => process::tkill(t, a[0], a[1], a[2]),
        SYS_futex => crate::kernel::futex::futex(t, a),
        SYS_setpgid => process::setpgid(t, a),
        SYS_getpgid => process::getpgid(t, a),
        SYS_getpgrp => process::getpgid(t, [0; 6]),
        SYS_setsid => process::setsid(t),
        SYS_getsid => process::getsid(t, a),
        SYS_getuid | SYS_geteuid | SYS_getgid | SYS_getegid | SYS_getgroups | SYS_getresuid
        | SYS_getresgid => process::get_ids(t, nr, a),
        SYS_setuid | SYS_setgid | SYS_setgroups | SYS_setresuid | SYS_setresgid | SYS_setreuid
        | SYS_setregid | SYS_setfsuid | SYS_setfsgid => process::set_ids(t, nr, a),
        SYS_set_tid_address => {
            t.clear_child_tid = a[0];
            Ok(t.tid as u64)
        }
        SYS_set_robust_list => crate::kernel::futex::set_robust_list(t, a),
        SYS_get_robust_list => crate::kernel::futex::get_robust_list(t, a),
        SYS_prctl => process::prctl(t, a),
        SYS_personality => process::personality(t, a),
        SYS_arch_prctl => process::arch_prctl(t, a),
        SYS_prlimit64 => process::prlimit(t, a[0], a[1], a[2], a[3]),
        SYS_getrlimit => process::prlimit(t, 0, a[0], 0, a[1]),
        SYS_setrlimit => process::prlimit(t, 0, a[0], a[1], 0),
        SYS_getrusage => misc::getrusage(t, a),
        SYS_times => misc::times(t, a),
        SYS_sched_getaffinity => sched::sched_getaffinity(t, a),
        SYS_sched_setaffinity => sched::sched_setaffinity(t, a),
        SYS_getpriority => sched::getpriority(t, a),
        SYS_setpriority => sched::setpriority(t, a),
        SYS_sched_get_priority_max => sched::sched_get_priority_max(t, a),
        SYS_sched_get_priority_min => sched::sched_get_priority_min(t, a),
        SYS_sched_getscheduler => sched::sched_getscheduler(t, a),
        SYS_sched_setscheduler => sched::sched_setscheduler(t, a),
        SYS_sched_getparam => sched::sched_getparam(t, a),
        SYS_sched_setparam => sched::sched_setparam(t, a),
        SYS_sched_yield => Ok(0),
        SYS_capget => caps::capget(t, a),
        SYS_capset => caps::capset(t, a),
        SYS_rt_sigaction => signal::rt_sigaction(t, a),
        SYS_rt_sigprocmask => signal::rt_sigprocmask(t, a),
        SYS_rt_sigreturn => crate::kernel::sigframe::sigreturn(t),
        SYS_rt_sigsuspend => signal::rt_sigsuspend(t, a),
        SYS_rt_sigpending => signal::rt_sigpending(t, a),
        SYS_rt_sigtimedwait => signal::rt_sigtimedwait(t, a),
        SYS_sigaltstack => signal::sigaltstack(t, a),
        SYS_rt_sigqueueinfo => signal::rt_sigqueueinfo(t, a),
        SYS_rt_tgsigqueueinfo => signal::rt_tgsigqueueinfo(t, a),
        SYS_pause => signal::pause(t),
        SYS_brk => mm::brk(t, a),
        SYS_mmap => mm::mmap(t, a),
        SYS_munmap => t.mm.lock().unmap(&mut *t.ctx, a[0], a[1]).map(|_| 0),
        SYS_mprotect => mm::mprotect(t, a),
        SYS_madvise => mm::madvise(t, a),
        SYS_mremap => mm::mremap(t, a),
        SYS_msync => mm::msync(t, a),
        SYS_mincore => mm::mincore(t, a),
        SYS_mlock => mlock::mlock(t, a),
        SYS_mlock2 => mlock::mlock2(t, a),
        SYS_munlock => mlock::munlock(t, a),
        SYS_mlockall => mlock::mlockall(t, a),
        SYS_munlockall => mlock::munlockall(t),
        SYS_uname => misc::uname(t, a),
        SYS_sethostname => misc::sethostname(t, a),
        SYS_unshare => misc::unshare(t, a),
        SYS_clock_gettime => misc::clock_gettime(t, a),
        SYS_clock_getres => misc::clock_getres(t, a),
        SYS_clock_settime => misc::clock_settime(t, a),
        SYS_settimeofday => err(EPERM),
        SYS_gettimeofday => misc::gettimeofday(t, a),
        SYS_time => misc::time(t, a),
        SYS_nanosleep => misc::nanosleep(t, CLOCK_MONOTONIC as u64, 0, a[0], a[1]),
        SYS_clock_nanosleep => misc::nanosleep(t, a[0], a[1], a[2], a[3]),
        SYS_getrandom => misc::getrandom(t, a),
        // Event descriptors and timers (syscalls/events.rs, syscalls/timers.rs).
        SYS_eventfd => events::eventfd2(t, a[0], 0),
        SYS_eventfd2 => events::eventfd2(t, a[0], a[1]),
        SYS_epoll_create => events::epoll_create(t, a[0]),
        SYS_epoll_create1 => events::epoll_create1(t, a[0]),
        SYS_epoll_ctl => events::epoll_ctl(t, a),
        SYS_epoll_wait => events::epoll_wait(t, a),
        SYS_epoll_pwait => events::epoll_pwait(t, a),
        SYS_epoll_pwait2 => events::epoll_pwait2(t, a),
        SYS_timerfd_create => events::timerfd_create(t, a),
        SYS_timerfd_settime => events::timerfd_settime(t, a),
        SYS_timerfd_gettime => events::timerfd_gettime(t, a),
        SYS_signalfd => events::signalfd4(t, a[0], a[1], a[2], 0),
        SYS_signalfd4 => events::signalfd4(t, a[0], a[1], a[2], a[3]),
        SYS_alarm => timers::alarm(t, a[0]),
        SYS_setitimer => timers::setitimer(t, a),
        SYS_getitimer => timers::getitimer(t, a),
        SYS_timer_create => timers::timer_create(t, a),
        SYS_timer_settime => timers::timer_settime(t, a),
        SYS_timer_gettime => timers::timer_gettime(t, a),
        SYS_timer_getoverrun => timers::timer_getoverrun(t, a),
        SYS_timer_delete => timers::timer_delete(t, a),
        SYS_sysinfo => misc::sysinfo(t, a),
        SYS_getcpu => misc::getcpu(t, a),
        SYS_socket => socket::socket(t, a),
        SYS_socketpair => socket::socketpair(t, a),
        SYS_bind => socket::bind(t, a),
        SYS_listen => socket::listen(t, a),
        SYS_accept => socket::accept(t, a, 0),
        SYS_accept4 => socket::accept(t, a, a[3]),
        SYS_connect => socket::connect(t, a),
        SYS_getsockname => socket::getsockname(t, a),
        SYS_getpeername => socket::getpeername(t, a),
        SYS_shutdown => socket::shutdown(t, a),
        SYS_getsockopt => socket::getsockopt(t, a),
        SYS_setsockopt => socket::setsockopt(t, a),
        SYS_sendto => sockmsg::sendto(t, a),
        SYS_recvfrom => sockmsg::recvfrom(t, a),
        SYS_sendmsg => sockmsg::sendmsg(t, a),
        SYS_recvmsg => sockmsg::recvmsg(t, a),
        SYS_sendmmsg => sockmsg::sendmmsg(t, a),
        // SysV IPC (syscalls/ipc.rs).
        SYS_shmget => ipc::shmget(t, a),
        SYS_shmat => ipc::shmat(t, a),
        SYS_shmdt => ipc::shmdt(t, a),
        SYS_shmctl => ipc::shmctl(t, a),
        SYS_semget => ipc::semget(t, a),
        SYS_semop => ipc::semop(t, a),
        SYS_semtimedop => ipc::semtimedop(t, a),
        SYS_semctl => ipc::semctl(t, a),
        SYS_msgget => ipc::msgget(t, a),
        SYS_msgsnd => ipc::msgsnd(t, a),
        SYS_msgrcv => ipc::msgrcv(t, a),
        SYS_msgctl => ipc::msgctl(t, a),
        SYS_mq_open => mqueue::mq_open(t, a),
        SYS_mq_unlink => mqueue::mq_unlink(t, a),
        SYS_mq_timedsend => mqueue::mq_timedsend(t, a),
        SYS_mq_timedreceive => mqueue::mq_timedreceive(t, a),
        SYS_mq_notify => mqueue::mq_notify(t, a),
        SYS_mq_getsetattr => mqueue::mq_getsetattr(t, a),
        SYS_recvmmsg => sockmsg::recvmmsg(t, a),
        _ => {
            tracing::debug!(pid = t.pid(), nr, "unimplemented system call: ENOSYS");
            err(ENOSYS)
        }
    }
}

// Helpers shared by the handlers.

/// The largest path the workload may pass.
const PATH_MAX: usize = 4096;

impl Task {
    /// Reads a path argument.
    pub fn path_arg(&self, addr: u64) -> SysResult<String> {
        let bytes = self.mm.read_cstr(addr, PATH_MAX)?;
        String::from_utf8(bytes).map_err(|_| Errno(libc::EINVAL))
    }

    /// The open file behind `fd` for a call that uses the file itself (I/O,
    /// metadata changes, locks, mappings): an O_PATH descriptor only names
    /// a file, so it is EBADF here, as Linux's fdget() refuses it.
    pub fn file(&self, fd: u64) -> SysResult<Arc<OpenFile>> {
        let f = self.file_raw(fd)?;
        if f.flags() & libc::O_PATH != 0 {
            return err(libc::EBADF);
        }
        Ok(f)
    }

    /// The open file behind `fd`, O_PATH descriptors included (Linux's
    /// fdget_raw): for the calls that only name a file through it (fstat,
    /// fstatfs, dup, fcntl's descriptor commands, *at directories, fchdir).
    pub fn file_raw(&self, fd: u64) -> SysResult<Arc<OpenFile>> {
        lock(&self.proc.files).get(fd as i32)
    }

    /// The directory a *at call starts from.
    pub fn dir_start(&self, dirfd: u64) -> SysResult<Location> {
        if dirfd as i32 == libc::AT_FDCWD {
            return Ok(lock(&self.proc.fs).cwd.clone());
        }
        let f = self.file_raw(dirfd)?;
        let inode = f.inode.clone().ok_or(Errno(libc::ENOTDIR))?;
        Ok(Location {
            path: f.path.clone(),
            inode,
            readonly: false,
        })
    }

    /// The path walker for this task: its search permissions apply.
    pub fn resolver(&self) -> Resolver<'_> {
        let searcher = Some(lock(&self.proc.state).creds.clone());
        Resolver {
            mounts: &self.proc.container.mounts,
            root: &self.proc.container.root,
            searcher,
        }
    }

    /// Resolves a path argument relative to `dirfd`.
    pub fn lookup_at(&self, dirfd: u64, path: &str, follow: bool) -> SysResult<Location> {
        let start = if path.starts_with('/') {
            self.proc.container.root.clone()
        } else {
            self.dir_start(dirfd)?
        };
        self.resolver().resolve(&start, path, follow)
    }

    /// Resolves the parent of a path argument.
    pub fn parent_at(&self, dirfd: u64, path: &str) -> SysResult<(Location, String)> {
        let start = if path.starts_with('/') {
            self.proc.container.root.clone()
        } else {
            self.dir_start(dirfd)?
        };
        self.resolver().resolve_parent(&start, path)
    }

    pub fn nofile(&self) -> u64 {
        self.rlimit(libc::RLIMIT_NOFILE).0
    }

    pub fn rlimit(&self, resource: u32) -> (u64, u64) {
        lock(&self.proc.state).rlimit(resource)
    }

    pub fn install(&self, file: Arc<OpenFile>, cloexec: bool) -> SysResult<u64> {
        let limit = self.nofile();
        lock(&self.proc.files)
            .install(file, cloexec, limit)
            .map(|fd| fd as u64)
    }
}
