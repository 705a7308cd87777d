//! [`GoTime`]: Go's `time.Time` as EDF carries it (`u8 n` + Go's `MarshalBinary`, version 1 or 2).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::decoder::Decoder;
use super::encoder::Encoder;
use super::error::EdfError;
use super::tag;
use super::types::{Edf, Kind, TypeDesc};

/// Seconds from 0001-01-01 (Go's internal epoch) to 1970-01-01.
const UNIX_TO_INTERNAL: i64 = 62_135_596_800;

/// An instant with the zone offset it was written in, as Go's `time.Time` travels: Unix
/// seconds, nanoseconds, and the offset from UTC (`None`: UTC itself; Go tells "UTC" from a
/// zero fixed offset).
///
/// # Examples
/// ```
/// use ergors::net::edf::GoTime;
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = GoTime::from(UNIX_EPOCH + Duration::from_millis(1500));
/// assert_eq!((t.unix_seconds, t.nanos, t.offset_seconds), (1, 500_000_000, None));
/// assert_eq!(t.to_system_time(), Some(UNIX_EPOCH + Duration::from_millis(1500)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GoTime {
    /// Seconds since the Unix epoch (UTC).
    pub unix_seconds: i64,
    /// Nanoseconds within the second (0..1e9).
    pub nanos: u32,
    /// The zone's offset east of UTC in seconds; `None` for UTC.
    pub offset_seconds: Option<i32>,
}

impl GoTime {
    /// The instant as a `SystemTime` (the offset is dropped); `None` if out of its range.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        let nanos = Duration::from_nanos(u64::from(self.nanos));
        if self.unix_seconds >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(self.unix_seconds as u64))?.checked_add(nanos)
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(self.unix_seconds.unsigned_abs()))?.checked_add(nanos)
        }
    }
}

impl From<SystemTime> for GoTime {
    /// A UTC time.
    fn from(t: SystemTime) -> GoTime {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => GoTime { unix_seconds: d.as_secs() as i64, nanos: d.subsec_nanos(), offset_seconds: None },
            Err(e) => {
                let d = e.duration();
                let (mut s, mut n) = (-(d.as_secs() as i64), d.subsec_nanos());
                if n > 0 {
                    s -= 1;
                    n = 1_000_000_000 - n;
                }
                GoTime { unix_seconds: s, nanos: n, offset_seconds: None }
            }
        }
    }
}

impl Edf for GoTime {
    const KIND: Kind = Kind::Scalar;
    fn edf_type() -> TypeDesc {
        TypeDesc::Time
    }
    fn write_type(enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        enc.put_u8(tag::TIME);
        Ok(())
    }
    fn read_type(dec: &mut Decoder<'_>) -> Result<(), EdfError> {
        dec.expect(tag::TIME)
    }

    /// Go's MarshalBinary: version 1 (whole-minute offsets, or UTC as −1) or 2 (an extra byte
    /// of offset seconds).
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EdfError> {
        let (minutes, seconds) = match self.offset_seconds {
            None => (-1i16, 0i8),
            Some(off) => {
                let m = i16::try_from(off / 60).ok().filter(|m| *m != -1).ok_or_else(|| zone(off))?;
                (m, (off % 60) as i8)
            }
        };
        let v2 = seconds != 0;
        enc.put_u8(if v2 { 16 } else { 15 });
        enc.put_u8(if v2 { 2 } else { 1 });
        let internal = self.unix_seconds.checked_add(UNIX_TO_INTERNAL).ok_or(EdfError::TooLong("time"))?;
        enc.put_u64(internal as u64);
        enc.put_u32(self.nanos);
        enc.put_u16(minutes as u16);
        if v2 {
            enc.put_u8(seconds as u8);
        }
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<GoTime, EdfError> {
        let n = usize::from(dec.read_u8()?);
        let b = dec.take(n)?;
        let mut d = dec.sub(b);
        let version = d.read_u8()?;
        let want = match version {
            1 => 15,
            2 => 16,
            _ => return Err(EdfError::Custom(format!("time: unsupported version {version}"))),
        };
        if n != want {
            return Err(EdfError::Custom(format!("time: {n} bytes for version {version}")));
        }
        let internal = d.read_u64()? as i64;
        let nanos = d.read_u32()?;
        if nanos >= 1_000_000_000 {
            return Err(EdfError::Custom(format!("time: {nanos} nanoseconds")));
        }
        let minutes = d.read_u16()? as i16;
        let extra = if version == 2 { i32::from(d.read_u8()? as i8) } else { 0 };
        let offset_seconds = if minutes == -1 && extra == 0 { None } else { Some(i32::from(minutes) * 60 + extra) };
        let unix_seconds =
            internal.checked_sub(UNIX_TO_INTERNAL).ok_or(EdfError::Custom("time: out of range".into()))?;
        Ok(GoTime { unix_seconds, nanos, offset_seconds })
    }
}

fn zone(off: i32) -> EdfError {
    EdfError::Custom(format!("time: zone offset {off} s cannot be written"))
}
