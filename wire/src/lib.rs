//! What travels between tfoscope's programs, and the one reading of it they share: the
//! collector's records ([`attempt`]), the echo origin's document ([`echo`]), and the packet
//! decoder with its TCP options ([`decode`]). No state and no tables: `collect` and `serve`
//! build on this crate alone, `analyze` on it and polars.

/// An enumeration whose values render as the strings of the output contract (DESIGN.md)
/// through `as_str`, and nowhere else; `parse` takes them back.
#[macro_export]
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The value `as_str` renders as `text`.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// A value where a name is wanted (a column, a map key).
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}

pub mod attempt;
pub mod decode;
pub mod echo;
pub mod feature;
