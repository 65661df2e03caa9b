//! The names a certificate of `--tls auto` is for when `--tls-hosts` does not say: every name and
//! address a tablet on the LAN might use to reach this box.

use crate::settings::certificate_name;

/// What the certificate must name: `--tls-hosts` as given, or [`this_box`] (looked up again at
/// each check, so a new DHCP address gets a certificate within a day).
pub(super) fn wanted(configured: &[String]) -> Vec<String> {
    if configured.is_empty() {
        this_box()
    } else {
        configured.to_vec()
    }
}

/// The machine's host name, its mDNS name (`NAME.local`), localhost and its loopback addresses,
/// and the addresses of its network interfaces. Link-local IPv6 addresses are left out: a
/// certificate cannot name their zone, so no browser matches them.
pub(super) fn this_box() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if let Some(name) = certificate_name(name)
            && !names.contains(&name)
        {
            names.push(name);
        }
    };
    if let Some(host) = host_name() {
        add(&host);
        let short = host.split('.').next().unwrap_or(&host);
        add(short);
        add(&format!("{short}.local"));
    }
    for name in ["localhost", "127.0.0.1", "::1"] {
        add(name);
    }
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => {
            for interface in interfaces.iter().filter(|i| !i.is_loopback() && !i.is_link_local()) {
                add(&interface.ip().to_string());
            }
        }
        Err(e) => tracing::warn!(
            error = %e,
            "cannot list the network interfaces: the certificate names only the host name and localhost; \
             list the box's addresses with --tls-hosts"
        ),
    }
    names
}

/// The machine's host name, lower-cased, if it can be one of a certificate's names.
pub(super) fn host_name() -> Option<String> {
    let host = gethostname::gethostname();
    certificate_name(host.to_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_box_answers_on_localhost_and_its_own_name() {
        let names = this_box();
        for name in ["localhost", "127.0.0.1", "::1"] {
            assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
        }
        if let Some(host) = host_name() {
            let short = host.split('.').next().unwrap();
            assert!(
                names.contains(&host) && names.contains(&format!("{short}.local")),
                "{names:?}"
            );
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "each name once: {names:?}");
    }

    #[test]
    fn configured_names_win() {
        let configured = vec!["rollcall.school.lan".to_owned(), "10.0.0.5".to_owned()];
        assert_eq!(wanted(&configured), configured);
        assert_eq!(wanted(&[]), this_box());
    }
}
