//! Error numbers (Linux: include/uapi/asm-generic/errno-base.h, errno.h).
//!
//! Kernel functions that can fail for a reason a caller (or, later, a user
//! program) should see return `Result<T, Errno>`; a system call returns
//! `-errno` to user space. The values are Linux's, so user programs built
//! for Linux read them unchanged.

use core::fmt;

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $val:expr, $msg:expr;)*) => {
        impl Errno {
            $(pub const $name: Errno = Errno($val);)*

            /// The symbolic name, as `strace` prints it.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($val => stringify!($name),)*
                    _ => "E?",
                }
            }

            /// The message `strerror` gives.
            pub fn message(self) -> &'static str {
                match self.0 {
                    $($val => $msg,)*
                    _ => "Unknown error",
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    ESRCH = 3, "No such process";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    ENXIO = 6, "No such device or address";
    E2BIG = 7, "Argument list too long";
    ENOEXEC = 8, "Exec format error";
    EBADF = 9, "Bad file descriptor";
    ECHILD = 10, "No child processes";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    ENOTBLK = 15, "Block device required";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Invalid cross-device link";
    ENODEV = 19, "No such device";
    ENOTDIR = 20, "Not a directory";
    ENOTTY = 25, "Inappropriate ioctl for device";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in system";
    EMFILE = 24, "Too many open files";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ESPIPE = 29, "Illegal seek";
    EROFS = 30, "Read-only file system";
    EPIPE = 32, "Broken pipe";
    ERANGE = 34, "Numerical result out of range";
    EDEADLK = 35, "Resource deadlock avoided";
    ENAMETOOLONG = 36, "File name too long";
    ENOSYS = 38, "Function not implemented";
    ENOTEMPTY = 39, "Directory not empty";
    ELOOP = 40, "Too many levels of symbolic links";
    ENOTSOCK = 88, "Socket operation on non-socket";
    EOPNOTSUPP = 95, "Operation not supported";
    EOVERFLOW = 75, "Value too large for defined data type";
    ELIBBAD = 80, "Accessing a corrupted shared library";
    ETIMEDOUT = 110, "Connection timed out";
    // Kernel-internal: a system call a signal interrupted, to be restarted
    // or turned into EINTR on the way out (include/linux/errno.h). They
    // never reach user space.
    ERESTARTSYS = 512, "Restart if the handler has SA_RESTART";
    ERESTARTNOINTR = 513, "Restart always";
    ERESTARTNOHAND = 514, "Restart unless a handler runs";
    ERESTART_RESTARTBLOCK = 516, "Restart through restart_syscall";
}

impl Errno {
    /// Whether this is one of the kernel-internal restart codes.
    pub fn is_restart(self) -> bool {
        matches!(self.0, 512 | 513 | 514 | 516)
    }

    /// The value a system call returns: `-errno`.
    pub fn as_syscall_ret(self) -> isize {
        -(self.0 as isize)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.name())
    }
}

pub type KResult<T> = core::result::Result<T, Errno>;

/// Returns `Err(errno)` from the enclosing function, logging why at debug
/// level (Asterinas: return_errno_with_message!).
#[macro_export]
macro_rules! return_errno_with_message {
    ($errno:expr, $($msg:tt)+) => {{
        log::debug!("{}: {}", $errno.name(), format_args!($($msg)+));
        return Err($errno);
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_names_are_linuxs() {
        assert_eq!(Errno::ENOMEM.0, 12);
        assert_eq!(Errno::EINVAL.0, 22);
        assert_eq!(Errno::ENOSYS.0, 38);
        assert_eq!(Errno::ENOMEM.name(), "ENOMEM");
        assert_eq!(Errno::EFAULT.message(), "Bad address");
        assert_eq!(Errno::ENOMEM.as_syscall_ret(), -12);
        assert_eq!(Errno(9999).name(), "E?");
    }
}
