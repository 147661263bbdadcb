//! The lab's scenarios, one per row of ../shared/TFO-FIELD-NOTES.md: the middlebox the router
//! plays, the URL the client fetches, whether a clean control run comes first, and the verdict
//! a correct analysis must reach.

use tfoscope_analyze::verdict::{Connectivity, CookieResult, Signature, SynDataResult, TargetVerdict};

/// What the targets row must say. `None` fields are not judged (e.g. the cookie of a host
/// that never answered).
#[derive(Debug, Clone)]
pub struct Expected {
    pub connectivity: Connectivity,
    pub cookie: Option<CookieResult>,
    pub syn_data: Option<SynDataResult>,
    pub signatures: &'static [Signature],
    pub middlebox: Option<bool>,
}

impl Expected {
    pub fn matches(&self, v: &TargetVerdict) -> bool {
        let mut found: Vec<&str> = v.signatures.iter().map(|s| s.as_str()).collect();
        let mut want: Vec<&str> = self.signatures.iter().map(|s| s.as_str()).collect();
        found.sort_unstable();
        want.sort_unstable();
        v.connectivity == self.connectivity
            && self.cookie.is_none_or(|c| c == v.cookie)
            && self.syn_data.is_none_or(|s| s == v.syn_data)
            && found == want
            && v.middlebox == self.middlebox
    }

    pub fn describe(&self) -> String {
        describe(
            self.connectivity.as_str(),
            self.cookie.map_or("*", |c| c.as_str()),
            self.syn_data.map_or("*", |s| s.as_str()),
            self.signatures.iter().map(|s| s.as_str()).collect(),
            self.middlebox,
        )
    }
}

pub fn describe_verdict(v: &TargetVerdict) -> String {
    describe(
        v.connectivity.as_str(),
        v.cookie.as_str(),
        v.syn_data.as_str(),
        v.signatures.iter().map(|s| s.as_str()).collect(),
        v.middlebox,
    )
}

fn describe(
    connectivity: &str,
    cookie: &str,
    syn_data: &str,
    signatures: Vec<&str>,
    middlebox: Option<bool>,
) -> String {
    let signatures = if signatures.is_empty() { "-".to_string() } else { signatures.join("+") };
    let middlebox = middlebox.map_or("null".to_string(), |m| m.to_string());
    format!("{connectivity}/{cookie}/{syn_data} {signatures} middlebox={middlebox}")
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub url: &'static str,
    /// Commands run in the router namespace to make the middlebox.
    pub router: &'static [&'static str],
    /// Fetch the same URL through a clean router first and judge against that control.
    pub control: bool,
    pub expected: Expected,
}

const CLEAN: Expected = Expected {
    connectivity: Connectivity::Works,
    cookie: Some(CookieResult::Received),
    syn_data: Some(SynDataResult::Acked),
    signatures: &[],
    middlebox: Some(false),
};

pub fn all() -> Vec<Scenario> {
    use Signature::*;
    vec![
        Scenario {
            name: "clean_http",
            about: "a clean path to a TFO origin over HTTP",
            url: "http://198.51.100.1/",
            router: &[],
            control: false,
            expected: CLEAN,
        },
        Scenario {
            name: "clean_https",
            about: "the same over HTTPS: the ClientHello rides in the SYN",
            url: "https://lab.test/",
            router: &[],
            control: false,
            expected: CLEAN,
        },
        Scenario {
            name: "clean_ipv6",
            about: "the same over IPv6",
            url: "http://[2001:db8:2::1]/",
            router: &[],
            control: false,
            expected: CLEAN,
        },
        Scenario {
            name: "clean_https_ipv6",
            about: "HTTPS over IPv6 (no SNI for an address; the self-signed certificate is recorded)",
            url: "https://[2001:db8:2::1]/",
            router: &[],
            control: false,
            expected: CLEAN,
        },
        Scenario {
            name: "option_dropped",
            about: "SYNs with option 34 or 254 dropped",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 34 -j DROP",
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j DROP",
            ],
            control: false,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionDropped],
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "exp_dropped_behind_stripper",
            about: "option 34 stripped, SYNs with 254 dropped: the kernel's fallback to 254 meets the drop",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -t mangle -A PREROUTING -p tcp --syn -j TCPOPTSTRIP --strip-options 34",
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j DROP",
            ],
            control: true,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionDropped, NotNegotiatedExpected],
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "option_reset",
            about: "SYNs with option 34 or 254 answered with a reset",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 34 -j REJECT --reject-with tcp-reset",
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j REJECT --reject-with tcp-reset",
            ],
            control: false,
            expected: Expected {
                connectivity: Connectivity::TfoBroken,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionReset],
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "syndata_dropped",
            about: "SYNs carrying data dropped (IPv4 length over 80)",
            url: "http://198.51.100.1/",
            router: &["iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j DROP"],
            control: false,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Dropped),
                signatures: &[SynDataDropped],
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "syndata_reset",
            about: "SYNs carrying data answered with a reset",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j REJECT --reject-with tcp-reset",
            ],
            control: false,
            expected: Expected {
                connectivity: Connectivity::TfoBroken,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Reset),
                signatures: &[SynDataReset],
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "option_stripped",
            about: "options 34 and 254 stripped from SYNs (judged against a clean control)",
            url: "http://198.51.100.1/",
            router: &["iptables -w -t mangle -A PREROUTING -p tcp --syn -j TCPOPTSTRIP --strip-options 34,254"],
            control: true,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[NotNegotiatedExpected],
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "proxy_no_tfo",
            about: "a transparent proxy without TFO (judged against a clean control)",
            url: "http://198.51.100.1/",
            router: &["iptables -w -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 3129"],
            control: true,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[NotNegotiatedExpected],
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "origin_no_tfo",
            about: "an origin without TFO, and its control agrees: no middlebox",
            url: "http://198.51.100.1:8080/",
            router: &[],
            control: true,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[],
                middlebox: Some(false),
            },
        },
        Scenario {
            name: "proxy_tfo",
            about: "a transparent proxy with TFO in front of an origin without (judged against a control)",
            url: "http://198.51.100.1:8080/",
            router: &["iptables -w -t nat -A PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 3130"],
            control: true,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Acked),
                signatures: &[NegotiatedUnexpected],
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "response_differs",
            about: "a box that takes TFO connections over and answers with its own page",
            url: "http://198.51.100.1/",
            router: &["iptables -w -t nat -A PREROUTING -p tcp --dport 80 -m tcp --tcp-option 34 -j REDIRECT --to-ports 3131"],
            control: false,
            // The box has TFO itself: only the page tells.
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Acked),
                signatures: &[ResponseDiffers],
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "host_down",
            about: "nothing answers (the router drops everything to the host)",
            url: "http://198.51.100.77/",
            router: &["iptables -w -A FORWARD -d 198.51.100.77 -j DROP"],
            control: false,
            expected: Expected {
                connectivity: Connectivity::Offline,
                cookie: None,
                syn_data: None,
                signatures: &[],
                middlebox: None,
            },
        },
        Scenario {
            name: "port_closed",
            about: "nothing listens: every attempt reset, the baseline too",
            url: "http://198.51.100.1:81/",
            router: &[],
            control: false,
            expected: Expected {
                connectivity: Connectivity::Closed,
                cookie: None,
                syn_data: None,
                signatures: &[],
                middlebox: None,
            },
        },
    ]
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
                    .filter(|w| w.contains('.') && w.parse::<std::net::IpAddr>().is_ok())
                {
                    assert!(word.starts_with("198.51.100.") || word.starts_with("192.0.2."), "{rule}");
                }
            }
        }
    }
}
