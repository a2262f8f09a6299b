//! Digest authentication settings: which algorithms the server, a trunk or an agent
//! accepts, the agents' HA1 hashes, and the networks a trunk may call from.

use super::*;
use crate::digest::{DigestAlgorithm, Ha1Set};

/// Parses a configured list of digest algorithms (MD5, SHA-256; not empty).
fn parse_algorithms(field: &str, list: &[String]) -> Result<Vec<DigestAlgorithm>, Invalid> {
    let bad = |value: &str| Invalid::DigestAlgorithm {
        field: field.to_owned(),
        value: value.to_owned(),
    };
    if list.is_empty() {
        return Err(bad(""));
    }
    list.iter()
        .map(|a| {
            DigestAlgorithm::parse(a)
                .filter(|alg| !alg.is_session())
                .ok_or_else(|| bad(a))
        })
        .collect()
}

impl SipConfig {
    /// The default challenge order (`sip.digest_algorithms`).
    pub fn algorithms(&self) -> Result<Vec<DigestAlgorithm>, Invalid> {
        parse_algorithms("sip.digest_algorithms", &self.digest_algorithms)
    }
}

impl TrunkConfig {
    /// The algorithms this trunk is challenged with and may answer with.
    pub fn algorithms(&self, sip: &SipConfig) -> Result<Vec<DigestAlgorithm>, Invalid> {
        match &self.digest_algorithms {
            Some(list) => {
                parse_algorithms(&format!("trunk {:?}: digest_algorithms", self.name), list)
            }
            None => sip.algorithms(),
        }
    }

    pub fn networks(&self) -> Result<Vec<IpNet>, Invalid> {
        self.allow
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| Invalid::TrunkAllow {
                        trunk: self.name.clone(),
                        entry: entry.clone(),
                    })
            })
            .collect()
    }
}

impl AgentConfig {
    /// The algorithms this agent's phones are challenged with and may answer with: its
    /// own list (each one must have a secret), else `sip.digest_algorithms` less those
    /// its stored hashes cannot check (an agent with only `ha1_md5` gets MD5).
    pub fn algorithms(&self, sip: &SipConfig) -> Result<Vec<DigestAlgorithm>, Invalid> {
        let secrets = self.ha1(&sip.realm)?;
        let Some(list) = &self.digest_algorithms else {
            let usable: Vec<DigestAlgorithm> = sip
                .algorithms()?
                .into_iter()
                .filter(|a| secrets.supports(*a))
                .collect();
            return match usable.first() {
                Some(_) => Ok(usable),
                None => Err(self.without_secret(sip.algorithms()?[0])),
            };
        };
        let algorithms =
            parse_algorithms(&format!("agent {:?}: digest_algorithms", self.id), list)?;
        // A listed algorithm must be checkable: no silent 403 for every phone using it.
        match algorithms.iter().find(|a| !secrets.supports(**a)) {
            Some(missing) => Err(self.without_secret(*missing)),
            None => Ok(algorithms),
        }
    }

    fn without_secret(&self, algorithm: DigestAlgorithm) -> Invalid {
        Invalid::AgentAlgorithmWithoutSecret {
            agent: self.id.clone(),
            algorithm: algorithm.to_string(),
            hash: if algorithm.as_str().starts_with("MD5") {
                "md5"
            } else {
                "sha256"
            },
        }
    }

    /// The digest secrets this agent authenticates with.
    pub fn ha1(&self, realm: &str) -> Result<Ha1Set, Invalid> {
        match (&self.password, &self.ha1_md5, &self.ha1_sha256) {
            (Some(pw), None, None) => Ok(Ha1Set::from_password(&self.id, realm, pw)),
            (None, md5, sha) if md5.is_some() || sha.is_some() => {
                Ha1Set::from_hex(md5.as_deref(), sha.as_deref()).map_err(|_| Invalid::AgentHash {
                    agent: self.id.clone(),
                    field: if md5.is_some() {
                        "ha1_md5"
                    } else {
                        "ha1_sha256"
                    },
                })
            }
            _ => Err(Invalid::AgentSecret(self.id.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../config/atende.toml");

    #[test]
    fn shipped_config_challenges_with_md5_and_names_no_version() {
        let c = Config::parse(DEMO).unwrap();
        assert_eq!(c.sip.algorithms().unwrap(), [DigestAlgorithm::Md5]);
        assert_eq!(c.sip.user_agent, "atende");
        for a in &c.agents {
            assert_eq!(a.algorithms(&c.sip).unwrap(), [DigestAlgorithm::Md5]);
        }
    }

    #[test]
    fn an_agent_or_trunk_may_have_its_own_digest_algorithms() {
        let text = DEMO.replacen(
            "password = \"demo1001\"",
            "password = \"demo1001\"\ndigest_algorithms = [\"SHA-256\", \"MD5\"]",
            1,
        );
        let text = text.replace(
            "allow = [\"127.0.0.0/8\"]",
            "allow = [\"127.0.0.0/8\"]\n\n[[trunks]]\nname = \"gw\"\nusername = \"gw\"\npassword = \"x\"\ndigest_algorithms = [\"sha-256\"]",
        );
        let c = Config::parse(&text).unwrap();
        let agent = |id: &str| c.agents.iter().find(|a| a.id == id).unwrap();
        use DigestAlgorithm::{Md5, Sha256};
        assert_eq!(agent("1001").algorithms(&c.sip).unwrap(), [Sha256, Md5]);
        assert_eq!(agent("1002").algorithms(&c.sip).unwrap(), [Md5]);
        assert_eq!(c.trunks[1].algorithms(&c.sip).unwrap(), [Sha256]);
        assert_eq!(c.trunks[0].algorithms(&c.sip).unwrap(), [Md5]);
    }

    #[test]
    fn digest_algorithm_lists_that_cannot_work_are_refused() {
        let err = Config::parse(&DEMO.replace(
            "digest_algorithms = [\"MD5\"]",
            "digest_algorithms = [\"SHA-512\"]",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("sip.digest_algorithms") && err.contains("SHA-512"),
            "{err}"
        );
        let md5 = crate::digest::ha1_hex(DigestAlgorithm::Md5, "1001", "atende", "x");
        let err = Config::parse(&DEMO.replacen(
            "password = \"demo1001\"",
            &format!("ha1_md5 = \"{md5}\"\ndigest_algorithms = [\"SHA-256\"]"),
            1,
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("1001") && err.contains("ha1_sha256"), "{err}");
        let err = Config::parse(&DEMO.replace(
            "allow = [\"127.0.0.0/8\"]",
            "allow = [\"127.0.0.0/8\"]\ndigest_algorithms = [\"MD5\"]",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("demo-gateway") && err.contains("username"),
            "{err}"
        );
        let err = Config::parse(&DEMO.replace(
            "user_agent = \"atende\"",
            "user_agent = \"a\\r\\nX-Evil: 1\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("sip.user_agent"), "{err}");
    }
}
