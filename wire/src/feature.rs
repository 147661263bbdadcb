//! The SYN features a fetch may ask for (TFO, MPTCP, ECN) and their reading on the wire: what
//! a SYN asked for and what its SYN-ACK granted, from the client's capture or another tool's.

use serde::{Deserialize, Serialize};

use crate::decode::options::OptionSummary;

crate::string_enum!(
    /// One feature a SYN can ask for. `tfo`: option 34 (a cookie request or a cookie);
    /// `mptcp`: option 30 with subtype MP_CAPABLE; `ecn`: ECE and CWR in the SYN (RFC 3168),
    /// ECE without CWR in the SYN-ACK.
    Feature {
        Tfo => "tfo",
        Mptcp => "mptcp",
        Ecn => "ecn",
    }
);

/// ECE and CWR, the flags of an ECN-setup SYN (RFC 3168 6.1.1).
pub const TCP_ECE: u8 = 0x40;
pub const TCP_CWR: u8 = 0x80;

/// A set of features, serialised as the list of their names in the order of [`Feature::ALL`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Features(u8);

impl Features {
    pub const NONE: Features = Features(0);
    pub const TFO: Features = Features(1);

    pub fn of(features: impl IntoIterator<Item = Feature>) -> Features {
        features.into_iter().fold(Features::NONE, |set, f| set.with(f))
    }

    fn bit(feature: Feature) -> u8 {
        match feature {
            Feature::Tfo => 1,
            Feature::Mptcp => 2,
            Feature::Ecn => 4,
        }
    }

    pub fn with(self, feature: Feature) -> Features {
        Features(self.0 | Self::bit(feature))
    }

    pub fn contains(self, feature: Feature) -> bool {
        self.0 & Self::bit(feature) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn union(self, other: Features) -> Features {
        Features(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Feature> {
        Feature::ALL.iter().copied().filter(move |f| self.contains(*f))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Feature::as_str).collect()
    }

    /// `tfo,mptcp,ecn` (any order, spaces allowed); the name that is none, as the error.
    pub fn parse_list(text: &str) -> Result<Features, String> {
        text.split(',').map(str::trim).filter(|t| !t.is_empty()).try_fold(Features::NONE, |set, name| {
            Feature::parse(name).map(|f| set.with(f)).ok_or_else(|| name.to_string())
        })
    }

    /// What a SYN asked for: its TFO option, MP_CAPABLE, ECE with CWR.
    pub fn of_syn(flags: u8, options: &OptionSummary<'_>) -> Features {
        Self::of_options(options).with_if(flags & (TCP_ECE | TCP_CWR) == TCP_ECE | TCP_CWR, Feature::Ecn)
    }

    /// What a SYN-ACK granted: a TFO option (a cookie), MP_CAPABLE, ECE without CWR.
    pub fn of_synack(flags: u8, options: &OptionSummary<'_>) -> Features {
        Self::of_options(options).with_if(flags & (TCP_ECE | TCP_CWR) == TCP_ECE, Feature::Ecn)
    }

    /// TFO and MPTCP, which options say the same way in a SYN and its SYN-ACK.
    fn of_options(options: &OptionSummary<'_>) -> Features {
        Features::NONE
            .with_if(options.tfo.is_some(), Feature::Tfo)
            .with_if(options.mp_capable, Feature::Mptcp)
    }

    fn with_if(self, present: bool, feature: Feature) -> Features {
        if present {
            self.with(feature)
        } else {
            self
        }
    }
}

impl std::fmt::Display for Features {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.names().join("+"))
    }
}

impl Serialize for Features {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(Feature::as_str))
    }
}

impl<'de> Deserialize<'de> for Features {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        names.iter().try_fold(Features::NONE, |set, name| {
            Feature::parse(name)
                .map(|f| set.with(f))
                .ok_or_else(|| serde::de::Error::custom(format!("unknown feature {name:?}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_reads_back_as_itself_and_names_what_it_holds() {
        let set = Features::parse_list("ecn, tfo").unwrap();
        assert!(set.contains(Feature::Tfo) && set.contains(Feature::Ecn) && !set.contains(Feature::Mptcp));
        assert_eq!(set.names(), ["tfo", "ecn"]);
        assert_eq!(set.to_string(), "tfo+ecn");
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["tfo","ecn"]"#);
        assert_eq!(serde_json::from_str::<Features>(&json).unwrap(), set);
        assert!(serde_json::from_str::<Features>(r#"["sctp"]"#).is_err());
        assert_eq!(Features::parse_list("tfo,quic"), Err("quic".to_string()));
        assert_eq!(Features::NONE.to_string(), "none");
    }

    #[test]
    fn a_syn_asks_and_a_synack_grants_by_options_and_flags() {
        use crate::decode::options::OptionIter;
        const SYN: u8 = 0x02;
        const ACK: u8 = 0x10;
        // MP_CAPABLE v1 of a SYN (4 bytes), a TFO cookie request.
        let options = [30, 4, 0x01, 0x81, 34, 2];
        let summary = OptionSummary::of(OptionIter::new(&options, options.len()));
        let syn = Features::of_syn(SYN | TCP_ECE | TCP_CWR, &summary);
        assert_eq!(syn.names(), ["tfo", "mptcp", "ecn"]);
        // ECE alone in a SYN is no ECN setup; ECE with CWR in a SYN-ACK is none either.
        assert_eq!(Features::of_syn(SYN | TCP_ECE, &summary).names(), ["tfo", "mptcp"]);
        assert!(!Features::of_synack(SYN | ACK | TCP_ECE | TCP_CWR, &summary).contains(Feature::Ecn));
        assert!(Features::of_synack(SYN | ACK | TCP_ECE, &summary).contains(Feature::Ecn));
        // MP_JOIN (subtype 1) is MPTCP but no MP_CAPABLE.
        let join = [30, 12, 0x10, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        let summary = OptionSummary::of(OptionIter::new(&join, join.len()));
        assert!(!Features::of_syn(SYN, &summary).contains(Feature::Mptcp));
    }
}
