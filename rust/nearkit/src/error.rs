//! Errors: every fallible call returns [`Result<T>`](crate::Result), whose [`Error`] carries the C
//! library's status as an [`ErrorKind`] and its message.

use std::ffi::CStr;
use std::fmt;

use nearkit_sys as sys;

/// The result type of every fallible nearkit call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong: the C library's status codes (`NEARKIT_ERR_*` in `nearkit.h`), one variant
/// each. The numeric value and the C name are available through [`ErrorKind::status`] and
/// [`ErrorKind::name`].
///
/// ```
/// use nearkit::ErrorKind;
///
/// assert_eq!(ErrorKind::InvalidArgument.name(), "INVALID_ARGUMENT");
/// assert_eq!(ErrorKind::from_status(4), Some(ErrorKind::Corrupt));
/// assert_eq!(ErrorKind::from_status(0), None); // NEARKIT_OK is no error
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `NEARKIT_ERR_INVALID_ARGUMENT`: wrong length or type, NaN, k = 0, a bad option value, ...
    InvalidArgument,
    /// `NEARKIT_ERR_OUT_OF_MEMORY`: an allocation failed.
    OutOfMemory,
    /// `NEARKIT_ERR_IO`: a file could not be opened, read or written.
    Io,
    /// `NEARKIT_ERR_CORRUPT`: a file or buffer is not a valid nearkit index.
    Corrupt,
    /// `NEARKIT_ERR_UNSUPPORTED`: valid, but not supported (kind/metric pair, newer format, a
    /// library with another ABI version).
    Unsupported,
    /// `NEARKIT_ERR_STATE`: the call is not valid in the index's state (e.g. not yet trained).
    State,
    /// `NEARKIT_ERR_NOT_FOUND`: unknown parameter, kind or metric name.
    NotFound,
    /// `NEARKIT_ERR_INTERNAL`: a bug in nearkit; please report it.
    Internal,
    /// A status code this crate does not know (from a newer library).
    Other(i32),
}

impl ErrorKind {
    /// The kind for a C status code; `None` for `NEARKIT_OK`.
    pub fn from_status(status: i32) -> Option<ErrorKind> {
        Some(match status {
            sys::NEARKIT_OK => return None,
            sys::NEARKIT_ERR_INVALID_ARGUMENT => ErrorKind::InvalidArgument,
            sys::NEARKIT_ERR_OUT_OF_MEMORY => ErrorKind::OutOfMemory,
            sys::NEARKIT_ERR_IO => ErrorKind::Io,
            sys::NEARKIT_ERR_CORRUPT => ErrorKind::Corrupt,
            sys::NEARKIT_ERR_UNSUPPORTED => ErrorKind::Unsupported,
            sys::NEARKIT_ERR_STATE => ErrorKind::State,
            sys::NEARKIT_ERR_NOT_FOUND => ErrorKind::NotFound,
            sys::NEARKIT_ERR_INTERNAL => ErrorKind::Internal,
            other => ErrorKind::Other(other),
        })
    }

    /// The C status code (`NEARKIT_ERR_*`).
    pub fn status(self) -> i32 {
        match self {
            ErrorKind::InvalidArgument => sys::NEARKIT_ERR_INVALID_ARGUMENT,
            ErrorKind::OutOfMemory => sys::NEARKIT_ERR_OUT_OF_MEMORY,
            ErrorKind::Io => sys::NEARKIT_ERR_IO,
            ErrorKind::Corrupt => sys::NEARKIT_ERR_CORRUPT,
            ErrorKind::Unsupported => sys::NEARKIT_ERR_UNSUPPORTED,
            ErrorKind::State => sys::NEARKIT_ERR_STATE,
            ErrorKind::NotFound => sys::NEARKIT_ERR_NOT_FOUND,
            ErrorKind::Internal => sys::NEARKIT_ERR_INTERNAL,
            ErrorKind::Other(code) => code,
        }
    }

    /// The status constant's name as the C library spells it, without prefix, e.g.
    /// `"INVALID_ARGUMENT"`; `"UNKNOWN"` for a code the library does not know.
    pub fn name(self) -> &'static str {
        // SAFETY: nearkit_status_name accepts any value and returns a non-NULL pointer to a
        // NUL-terminated string in static storage.
        let name = unsafe { CStr::from_ptr(sys::nearkit_status_name(self.status())) };
        name.to_str().unwrap_or("UNKNOWN")
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error from nearkit: its [`ErrorKind`] and a message saying what was wrong.
///
/// Errors of the C library carry the message it left for the failing call
/// (`nearkit_last_error_message`); the few checks the Rust binding makes itself (slice lengths,
/// NUL bytes in strings) use the same kinds.
///
/// ```
/// use nearkit::{ErrorKind, Index, Kind, Metric};
///
/// let index = Index::new(Kind::FLAT, Metric::L2, 4)?;
/// let err = index.search(&[1.0f32, 2.0, 3.0][..], 1).unwrap_err(); // 3 floats, dimension 4
/// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
/// println!("{err}"); // INVALID_ARGUMENT: ...
/// # Ok::<(), nearkit::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of the given kind with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The C status code of the error (`NEARKIT_ERR_*`).
    pub fn status(&self) -> i32 {
        self.kind.status()
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error of a failed C call: `status` with the calling thread's last error message.
    /// Must be called right after the failing call, on the same thread.
    pub(crate) fn from_last(status: i32) -> Error {
        let kind = ErrorKind::from_status(status).unwrap_or(ErrorKind::Internal);
        // SAFETY: nearkit_last_error_message never returns NULL; the string stays valid until
        // the next nearkit call on this thread, and it is copied before any.
        let message =
            unsafe { CStr::from_ptr(sys::nearkit_last_error_message()) }.to_string_lossy().into_owned();
        let message = if message.is_empty() {
            format!("nearkit call failed with status {}", kind.name())
        } else {
            message
        };
        Error { kind, message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    /// Turns a nearkit error into an I/O error, e.g. for use with `?` in functions returning
    /// `std::io::Result`.
    fn from(err: Error) -> std::io::Error {
        let kind = match err.kind {
            ErrorKind::InvalidArgument => std::io::ErrorKind::InvalidInput,
            ErrorKind::OutOfMemory => std::io::ErrorKind::OutOfMemory,
            ErrorKind::Corrupt => std::io::ErrorKind::InvalidData,
            ErrorKind::Unsupported => std::io::ErrorKind::Unsupported,
            ErrorKind::NotFound => std::io::ErrorKind::NotFound,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, err)
    }
}

/// Turns a C status into a `Result`, reading the message on failure.
#[inline]
pub(crate) fn check(status: i32) -> Result<()> {
    if status == sys::NEARKIT_OK {
        Ok(())
    } else {
        Err(Error::from_last(status))
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}
