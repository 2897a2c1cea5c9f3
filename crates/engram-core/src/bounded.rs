//! Integer newtypes with inclusive bounds and a default (`BlockLimit`, `PageLimit`): one definition of the
//! parse-check-default pattern, so every bounded count reports out-of-range input the same way.

/// Declares `$name(u32)` accepting `1..=$max`, defaulting to `$default`, with `parse(field, n)` and `get()`.
macro_rules! bounded_u32 {
    ($(#[$doc:meta])* $name:ident, max = $max:expr, default = $default:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub struct $name(u32);

        impl $name {
            pub const DEFAULT: u32 = $default;
            pub const MAX: u32 = $max;

            pub fn parse(field: &str, n: i64) -> Result<Self, $crate::ValidationError> {
                if (1..=i64::from(Self::MAX)).contains(&n) {
                    Ok(Self(n as u32))
                } else {
                    Err($crate::ValidationError::new(field, format!("must be between 1 and {}, got {n}", Self::MAX)))
                }
            }

            pub fn get(self) -> u32 {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self(Self::DEFAULT)
            }
        }
    };
}

pub(crate) use bounded_u32;
