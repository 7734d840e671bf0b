//! File attributes as the workload sees them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileType {
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Regular => libc::S_IFREG,
            FileType::Directory => libc::S_IFDIR,
            FileType::Symlink => libc::S_IFLNK,
            FileType::CharDevice => libc::S_IFCHR,
            FileType::BlockDevice => libc::S_IFBLK,
            FileType::Fifo => libc::S_IFIFO,
            FileType::Socket => libc::S_IFSOCK,
        }
    }

    pub fn from_mode(mode: u32) -> FileType {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => FileType::Directory,
            libc::S_IFLNK => FileType::Symlink,
            libc::S_IFCHR => FileType::CharDevice,
            libc::S_IFBLK => FileType::BlockDevice,
            libc::S_IFIFO => FileType::Fifo,
            libc::S_IFSOCK => FileType::Socket,
            _ => FileType::Regular,
        }
    }

    /// The d_type value of getdents64.
    pub fn dirent_type(self) -> u8 {
        match self {
            FileType::Regular => libc::DT_REG,
            FileType::Directory => libc::DT_DIR,
            FileType::Symlink => libc::DT_LNK,
            FileType::CharDevice => libc::DT_CHR,
            FileType::BlockDevice => libc::DT_BLK,
            FileType::Fifo => libc::DT_FIFO,
            FileType::Socket => libc::DT_SOCK,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    /// Type and permission bits.
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime: libc::timespec,
    pub mtime: libc::timespec,
    pub ctime: libc::timespec,
}

impl Stat {
    /// A synthetic attribute set (for the Sentry's own file systems).
    pub fn synthetic(dev: u64, ino: u64, ftype: FileType, perm: u32, size: u64) -> Stat {
        let now = now();
        Stat {
            dev,
            ino,
            mode: ftype.mode_bits() | (perm & 0o7777),
            nlink: if ftype == FileType::Directory { 2 } else { 1 },
            uid: 0,
            gid: 0,
            rdev: 0,
            size,
            blksize: 4096,
            blocks: size.div_ceil(512),
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    pub fn file_type(&self) -> FileType {
        FileType::from_mode(self.mode)
    }

    pub fn from_host(s: &libc::stat) -> Stat {
        Stat {
            dev: s.st_dev,
            ino: s.st_ino,
            mode: s.st_mode,
            nlink: s.st_nlink,
            uid: s.st_uid,
            gid: s.st_gid,
            rdev: s.st_rdev,
            size: s.st_size as u64,
            blksize: s.st_blksize as u64,
            blocks: s.st_blocks as u64,
            atime: libc::timespec {
                tv_sec: s.st_atime,
                tv_nsec: s.st_atime_nsec,
            },
            mtime: libc::timespec {
                tv_sec: s.st_mtime,
                tv_nsec: s.st_mtime_nsec,
            },
            ctime: libc::timespec {
                tv_sec: s.st_ctime,
                tv_nsec: s.st_ctime_nsec,
            },
        }
    }

    /// The struct stat layout of x86-64 (newfstatat, fstat).
    pub fn to_linux(&self) -> libc::stat {
        // SAFETY: libc::stat is plain data; all-zero is valid.
        let mut s: libc::stat = unsafe { std::mem::zeroed() };
        s.st_dev = self.dev;
        s.st_ino = self.ino;
        s.st_mode = self.mode;
        s.st_nlink = self.nlink;
        s.st_uid = self.uid;
        s.st_gid = self.gid;
        s.st_rdev = self.rdev;
        s.st_size = self.size as i64;
        s.st_blksize = self.blksize as i64;
        s.st_blocks = self.blocks as i64;
        s.st_atime = self.atime.tv_sec;
        s.st_atime_nsec = self.atime.tv_nsec;
        s.st_mtime = self.mtime.tv_sec;
        s.st_mtime_nsec = self.mtime.tv_nsec;
        s.st_ctime = self.ctime.tv_sec;
        s.st_ctime_nsec = self.ctime.tv_nsec;
        s
    }
}

/// The current real time.
pub fn now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts
}

#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: String,
    pub ino: u64,
    pub ftype: FileType,
}

/// The kernel's struct statfs on x86-64 (libc's hides f_flags).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FsStat {
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_fsid: [i32; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    pub f_flags: i64,
    pub f_spare: [i64; 4],
}

const _: () = assert!(std::mem::size_of::<FsStat>() == std::mem::size_of::<libc::statfs>());
