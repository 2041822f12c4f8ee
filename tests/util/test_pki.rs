//! Certificates for TLS tests: a throwaway CA and a `localhost` server certificate it signs,
//! written as PEM files. A client trusts the CA by being started with `SSL_CERT_FILE`
//! pointing at `ca.pem`, which the operating-system trust store loader honours first.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

#[derive(Debug)]
pub(crate) struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    /// A CA named `name` and a server certificate for `localhost` signed by it.
    pub(crate) fn new(name: &str) -> TestPki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key"))
            .expect("self-sign the CA");

        let server_key = KeyPair::generate().expect("server key");
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server = server
            .signed_by(&server_key, &ca)
            .expect("sign the server certificate");

        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write ca.pem");
        std::fs::write(dir.path().join("server.pem"), server.pem()).expect("write server.pem");
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem())
            .expect("write server.key");
        TestPki { dir }
    }

    /// The CA certificate, for `SSL_CERT_FILE`.
    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub(crate) fn server_cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    pub(crate) fn server_key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
}
