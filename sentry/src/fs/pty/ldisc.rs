//! The line discipline of a pseudo-terminal (what Linux's N_TTY does):
//! input typed on the master is edited into lines, echoed and turned into
//! signals as the slave's termios says; output the slave writes is
//! post-processed (`\n` to `\r\n`) on its way to the master.
//!
//! Pure data, no locking and no kernel: the pty wraps it in its lock and
//! raises the signals this returns.

use std::collections::VecDeque;

/// The kernel's `struct termios` has 19 control characters.
pub const NCCS: usize = 19;
/// The most input a pty holds for its slave, and output for its master.
pub const QUEUE_MAX: usize = 65536;
/// The longest canonical line (Linux's N_TTY_BUF_SIZE less the newline).
pub const MAX_CANON: usize = 4095;

/// The kernel's `struct termios` (TCGETS), plus the speeds of `termios2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; NCCS],
    pub ispeed: u32,
    pub ospeed: u32,
}

/// The size of `struct termios` and `struct termios2`.
pub const TERMIOS_SIZE: usize = 36;
pub const TERMIOS2_SIZE: usize = 44;

impl Termios {
    /// A new terminal's settings (Linux's tty_std_termios): cooked input
    /// with echo and signals, `\n` output as `\r\n`, 38400 baud, 8 bits.
    pub fn standard() -> Termios {
        Termios {
            iflag: libc::ICRNL | libc::IXON,
            oflag: libc::OPOST | libc::ONLCR,
            cflag: libc::B38400 | libc::CS8 | libc::CREAD | libc::HUPCL,
            lflag: libc::ISIG
                | libc::ICANON
                | libc::ECHO
                | libc::ECHOE
                | libc::ECHOK
                | libc::ECHOCTL
                | libc::ECHOKE
                | libc::IEXTEN,
            line: 0,
            // ^C ^\ DEL ^U ^D time 0 min 1 swtc 0 ^Q ^S ^Z eol 0 ^R ^O ^W ^V eol2 0
            cc: [
                3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0, 0,
                0,
            ],
            ispeed: 38400,
            ospeed: 38400,
        }
    }

    /// The master side's own settings: raw, as Linux gives a pty master.
    pub fn master() -> Termios {
        Termios {
            iflag: 0,
            oflag: 0,
            cflag: libc::B38400 | libc::CS8 | libc::CREAD,
            lflag: 0,
            ..Termios::standard()
        }
    }

    /// The layout TCGETS (36 bytes) or TCGETS2 (44 bytes) copies out.
    pub fn to_bytes(&self) -> [u8; TERMIOS2_SIZE] {
        let mut b = [0u8; TERMIOS2_SIZE];
        b[0..4].copy_from_slice(&self.iflag.to_ne_bytes());
        b[4..8].copy_from_slice(&self.oflag.to_ne_bytes());
        b[8..12].copy_from_slice(&self.cflag.to_ne_bytes());
        b[12..16].copy_from_slice(&self.lflag.to_ne_bytes());
        b[16] = self.line;
        b[17..36].copy_from_slice(&self.cc);
        b[36..40].copy_from_slice(&self.ispeed.to_ne_bytes());
        b[40..44].copy_from_slice(&self.ospeed.to_ne_bytes());
        b
    }

    /// Reads TCSETS's 36 bytes (speeds kept from `self`) or TCSETS2's 44.
    pub fn from_bytes(&self, b: &[u8]) -> Termios {
        let word = |i: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&b[i..i + 4]);
            u32::from_ne_bytes(w)
        };
        let mut t = *self;
        if b.len() < TERMIOS_SIZE {
            return t;
        }
        t.iflag = word(0);
        t.oflag = word(4);
        t.cflag = word(8);
        t.lflag = word(12);
        t.line = b[16];
        t.cc.copy_from_slice(&b[17..36]);
        if b.len() >= TERMIOS2_SIZE {
            t.ispeed = word(36);
            t.ospeed = word(40);
        }
        t
    }

    fn l(&self, flag: u32) -> bool {
        self.lflag & flag != 0
    }

    fn i(&self, flag: u32) -> bool {
        self.iflag & flag != 0
    }

    /// Is `c` the (enabled) control character at `idx`?
    fn is(&self, c: u8, idx: usize) -> bool {
        self.cc[idx] != 0 && self.cc[idx] == c
    }
}

/// The slave's input and the master's output, with the slave's settings.
pub struct Ldisc {
    pub termios: Termios,
    /// The canonical line being edited (not readable yet).
    line: Vec<u8>,
    /// What the slave may read: whole lines in canonical mode (an empty
    /// one is an end-of-file typed at the start of a line), chunks
    /// otherwise.
    ready: VecDeque<Vec<u8>>,
    ready_bytes: usize,
    /// What the master may read.
    out: VecDeque<u8>,
}

impl Default for Ldisc {
    fn default() -> Self {
        Ldisc {
            termios: Termios::standard(),
            line: Vec::new(),
            ready: VecDeque::new(),
            ready_bytes: 0,
            out: VecDeque::new(),
        }
    }
}

impl Ldisc {
    /// New settings. Leaving canonical mode makes the line being edited
    /// readable, as Linux does.
    pub fn set_termios(&mut self, t: Termios) {
        let was_canon = self.termios.l(libc::ICANON);
        self.termios = t;
        if was_canon && !t.l(libc::ICANON) && !self.line.is_empty() {
            self.push_line();
        }
    }

    /// Input typed on the master. Returns how much of `input` was taken
    /// (less than all when the slave's queue is full) and pushes the
    /// signals the input raised (ISIG) onto `signals`.
    pub fn receive(&mut self, input: &[u8], signals: &mut Vec<i32>) -> usize {
        let mut taken = 0;
        for &b in input {
            if self.ready_bytes + self.line.len() >= QUEUE_MAX {
                break;
            }
            taken += 1;
            self.receive_byte(b, signals);
        }
        taken
    }

    fn receive_byte(&mut self, b: u8, signals: &mut Vec<i32>) {
        let t = self.termios;
        let mut c = if t.i(libc::ISTRIP) { b & 0x7f } else { b };
        if c == b'\r' {
            if t.i(libc::IGNCR) {
                return;
            }
            if t.i(libc::ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && t.i(libc::INLCR) {
            c = b'\r';
        }
        if t.l(libc::ISIG) {
            let sig = if t.is(c, libc::VINTR) {
                libc::SIGINT
            } else if t.is(c, libc::VQUIT) {
                libc::SIGQUIT
            } else if t.is(c, libc::VSUSP) {
                libc::SIGTSTP
            } else {
                0
            };
            if sig != 0 {
                if !t.l(libc::NOFLSH) {
                    self.flush_input();
                }
                if t.l(libc::ECHO) {
                    self.echo(c);
                }
                signals.push(sig);
                return;
            }
        }
        if !t.l(libc::ICANON) {
            match self.ready.back_mut() {
                Some(chunk) if !chunk.is_empty() => chunk.push(c),
                _ => self.ready.push_back(vec![c]),
            }
            self.ready_bytes += 1;
            if t.l(libc::ECHO) {
                self.echo(c);
            }
            return;
        }
        if t.is(c, libc::VERASE) || (t.l(libc::IEXTEN) && t.is(c, libc::VWERASE)) {
            let word = !t.is(c, libc::VERASE);
            self.erase(c, word);
            return;
        }
        if t.is(c, libc::VKILL) {
            self.kill_line(c);
            return;
        }
        if t.is(c, libc::VEOF) {
            self.push_line();
            return;
        }
        let eol = c == b'\n' || t.is(c, libc::VEOL) || t.is(c, libc::VEOL2);
        if !eol && self.line.len() >= MAX_CANON {
            return; // a full line takes only its end
        }
        self.line.push(c);
        if t.l(libc::ECHO) || (c == b'\n' && t.l(libc::ECHONL)) {
            self.echo(c);
        }
        if eol {
            self.push_line();
        }
    }

    /// VERASE (one character) or VWERASE (back to the previous word).
    fn erase(&mut self, c: u8, word: bool) {
        let t = self.termios;
        let mut seen_word = false;
        while let Some(&last) = self.line.last() {
            if word {
                let blank = last == b' ' || last == b'\t';
                if blank && seen_word {
                    break;
                }
                seen_word |= !blank;
            }
            self.line.pop();
            if t.l(libc::ECHO) {
                if t.l(libc::ECHOE) {
                    let width = if is_ctl(last) && t.l(libc::ECHOCTL) {
                        2
                    } else {
                        1
                    };
                    for _ in 0..width {
                        self.put_raw(b"\x08 \x08");
                    }
                } else {
                    self.echo(c);
                }
            }
            if !word {
                break;
            }
        }
    }

    /// VKILL: the whole line goes.
    fn kill_line(&mut self, c: u8) {
        let t = self.termios;
        if t.l(libc::ECHO) && t.l(libc::ECHOKE) && t.l(libc::ECHOE) {
            while let Some(last) = self.line.pop() {
                let width = if is_ctl(last) && t.l(libc::ECHOCTL) {
                    2
                } else {
                    1
                };
                for _ in 0..width {
                    self.put_raw(b"\x08 \x08");
                }
            }
        } else {
            if t.l(libc::ECHO) {
                self.echo(c);
                if t.l(libc::ECHOK) {
                    self.echo(b'\n');
                }
            }
            self.line.clear();
        }
    }

    fn push_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.ready_bytes += line.len();
        self.ready.push_back(line);
    }

    /// Echoes an input character: control characters as `^X` with ECHOCTL.
    fn echo(&mut self, c: u8) {
        if self.termios.l(libc::ECHOCTL) && is_ctl(c) && c != b'\t' && c != b'\n' {
            self.put_raw(&[b'^', c ^ 0x40]);
        } else {
            self.put_output(c);
        }
    }

    fn put_raw(&mut self, bytes: &[u8]) {
        self.out.extend(bytes);
    }

    /// One byte of output, post-processed as OPOST says.
    fn put_output(&mut self, c: u8) {
        let t = self.termios;
        if t.oflag & libc::OPOST == 0 {
            self.out.push_back(c);
            return;
        }
        match c {
            b'\n' if t.oflag & libc::ONLCR != 0 => self.put_raw(b"\r\n"),
            b'\r' if t.oflag & libc::OCRNL != 0 => self.out.push_back(b'\n'),
            _ => self.out.push_back(c),
        }
    }

    /// Output the slave writes. Returns how much of `buf` was taken (0 when
    /// the master's queue is full).
    pub fn write_output(&mut self, buf: &[u8]) -> usize {
        let mut taken = 0;
        for &c in buf {
            if self.out.len() >= QUEUE_MAX {
                break;
            }
            self.put_output(c);
            taken += 1;
        }
        taken
    }

    /// The slave reads: None when it would have to wait. In canonical mode
    /// a read returns at most one line; an end-of-file at the start of a
    /// line reads as 0. Otherwise it returns what there is, or 0 at once
    /// when VMIN is 0.
    pub fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        if self.termios.l(libc::ICANON) {
            let first = self.ready.front_mut()?;
            let n = first.len().min(buf.len());
            buf[..n].copy_from_slice(&first[..n]);
            first.drain(..n);
            if first.is_empty() {
                self.ready.pop_front();
            }
            self.ready_bytes -= n;
            return Some(n);
        }
        let mut n = 0;
        while n < buf.len() {
            let Some(first) = self.ready.front_mut() else {
                break;
            };
            let k = first.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&first[..k]);
            first.drain(..k);
            if first.is_empty() {
                self.ready.pop_front();
            }
            n += k;
        }
        self.ready_bytes -= n;
        if n == 0 && self.termios.cc[libc::VMIN] != 0 {
            return None;
        }
        Some(n)
    }

    /// Would a slave read return at once?
    pub fn readable(&self) -> bool {
        if self.termios.l(libc::ICANON) {
            !self.ready.is_empty()
        } else {
            self.ready_bytes > 0
        }
    }

    /// Bytes a slave read could return now (FIONREAD).
    pub fn input_len(&self) -> usize {
        if self.termios.l(libc::ICANON) {
            self.ready.iter().map(Vec::len).sum()
        } else {
            self.ready_bytes
        }
    }

    /// The master reads.
    pub fn read_output(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.out.len());
        for (dst, src) in buf.iter_mut().zip(self.out.drain(..n)) {
            *dst = src;
        }
        n
    }

    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    pub fn output_full(&self) -> bool {
        self.out.len() >= QUEUE_MAX
    }

    pub fn input_full(&self) -> bool {
        self.ready_bytes + self.line.len() >= QUEUE_MAX
    }

    pub fn flush_input(&mut self) {
        self.line.clear();
        self.ready.clear();
        self.ready_bytes = 0;
    }

    pub fn flush_output(&mut self) {
        self.out.clear();
    }
}

fn is_ctl(c: u8) -> bool {
    c < 0x20 || c == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(ld: &mut Ldisc, s: &[u8]) -> Vec<i32> {
        let mut sigs = Vec::new();
        assert_eq!(ld.receive(s, &mut sigs), s.len());
        sigs
    }

    fn slave_read(ld: &mut Ldisc) -> Option<Vec<u8>> {
        let mut buf = [0u8; 256];
        ld.read(&mut buf).map(|n| buf[..n].to_vec())
    }

    fn master_read(ld: &mut Ldisc) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let n = ld.read_output(&mut buf);
        buf[..n].to_vec()
    }

    #[test]
    fn canonical_lines_become_readable_at_the_newline() {
        let mut ld = Ldisc::default();
        typed(&mut ld, b"ab");
        assert!(!ld.readable());
        assert_eq!(slave_read(&mut ld), None);
        typed(&mut ld, b"c\rnext");
        assert_eq!(slave_read(&mut ld).as_deref(), Some(&b"abc\n"[..]));
        assert_eq!(slave_read(&mut ld), None);
        // The echo went through ONLCR: the CR typed became \n, echoed \r\n.
        assert_eq!(master_read(&mut ld), b"abc\r\nnext");
    }

    #[test]
    fn erase_kill_and_eof() {
        let mut ld = Ldisc::default();
        typed(&mut ld, b"hel\x7f\x7fello world\x17there\n");
        assert_eq!(slave_read(&mut ld).as_deref(), Some(&b"hello there\n"[..]));
        typed(&mut ld, b"gone\x15kept\x04");
        assert_eq!(slave_read(&mut ld).as_deref(), Some(&b"kept"[..]));
        typed(&mut ld, b"\x04");
        assert_eq!(slave_read(&mut ld).as_deref(), Some(&b""[..]));
        assert!(!ld.readable());
    }

    #[test]
    fn signal_characters_raise_signals_echo_and_flush() {
        let mut ld = Ldisc::default();
        typed(&mut ld, b"partial");
        master_read(&mut ld);
        assert_eq!(typed(&mut ld, b"\x03"), vec![libc::SIGINT]);
        assert_eq!(master_read(&mut ld), b"^C");
        typed(&mut ld, b"\n");
        assert_eq!(slave_read(&mut ld).as_deref(), Some(&b"\n"[..]));
        assert_eq!(
            typed(&mut ld, b"\x1c\x1a"),
            vec![libc::SIGQUIT, libc::SIGTSTP]
        );
    }

    #[test]
    fn raw_mode_passes_bytes_and_honours_vmin() {
        let mut ld = Ldisc::default();
        let mut t = ld.termios;
        t.lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
        t.iflag &= !libc::ICRNL;
        ld.set_termios(t);
        typed(&mut ld, b"a\x03\r");
        assert_eq!(slave_read(&mut ld).as_deref(), Some(&b"a\x03\r"[..]));
        assert_eq!(slave_read(&mut ld), None, "VMIN 1 waits");
        t.cc[libc::VMIN] = 0;
        ld.set_termios(t);
        assert_eq!(
            slave_read(&mut ld).as_deref(),
            Some(&b""[..]),
            "VMIN 0 returns 0"
        );
        assert!(master_read(&mut ld).is_empty(), "no echo");
    }

    #[test]
    fn leaving_canonical_mode_releases_the_pending_line() {
        let mut ld = Ldisc::default();
        typed(&mut ld, b"pend");
        let mut t = ld.termios;
        t.lflag &= !libc::ICANON;
        ld.set_termios(t);
        assert_eq!(slave_read(&mut ld).as_deref(), Some(&b"pend"[..]));
    }

    #[test]
    fn output_processing() {
        let mut ld = Ldisc::default();
        assert_eq!(ld.write_output(b"a\nb"), 3);
        assert_eq!(master_read(&mut ld), b"a\r\nb");
        let mut t = ld.termios;
        t.oflag &= !libc::OPOST;
        ld.set_termios(t);
        ld.write_output(b"a\nb");
        assert_eq!(master_read(&mut ld), b"a\nb");
    }

    #[test]
    fn termios_round_trips_through_both_layouts() {
        let t = Termios::standard();
        let b = t.to_bytes();
        assert_eq!(Termios::master().from_bytes(&b), t);
        let mut short = Termios::master();
        short.ispeed = 9600;
        let got = short.from_bytes(&b[..TERMIOS_SIZE]);
        assert_eq!(got.ispeed, 9600, "TCSETS keeps the speeds");
        assert_eq!(got.lflag, t.lflag);
    }
}
