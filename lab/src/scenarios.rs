//! Every scenario of the lab: TFO's (`tfo_scenarios`), then the features' (`feature_scenarios`).

use crate::scenario::Scenario;

pub fn all() -> Vec<Scenario> {
    crate::tfo_scenarios::all().into_iter().chain(crate::feature_scenarios::all()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_rules_name_only_lab_addresses() {
        let scenarios = all();
        let mut names: Vec<&str> = scenarios.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), scenarios.len());
        for s in &scenarios {
            for rule in s.router {
                assert!(rule.starts_with("iptables -w ") || rule.starts_with("ip6tables -w "), "{rule}");
                for word in rule
                    .split_whitespace()
                    .filter_map(|w| w.split('/').next())
                    .filter(|w| w.contains('.') && w.parse::<std::net::IpAddr>().is_ok())
                {
                    assert!(word.starts_with("198.51.100.") || word.starts_with("192.0.2."), "{rule}");
                }
            }
        }
    }
}
