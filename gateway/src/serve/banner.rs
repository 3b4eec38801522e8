//! The start banner of a node: its URLs, the sandbox's credentials and students, the partners'
//! simulators and receivers.

use std::fmt::Write as _;

use super::Node;

impl Node {
    /// The start banner: URLs, credentials, sample students.
    pub fn banner(&self) -> String {
        let mut s = String::new();
        let u = &self.api_url;
        let _ = writeln!(s, "Knooppunt is running.");
        let _ = writeln!(s, "  API          {u}/api/v1");
        let _ = writeln!(s, "  OpenAPI      {u}/openapi.json   (browse: {u}/docs)");
        let _ = writeln!(s, "  metrics      {u}/metrics");
        let _ = writeln!(s, "  health       {u}/healthz   readiness {u}/readyz");
        let o = &self.operator_url;
        let _ = writeln!(
            s,
            "  operator     {o}/ops/v1/status   (also {o}/metrics, {o}/readyz)"
        );
        let _ = writeln!(
            s,
            "  console      {o}/console   (log in with an operator token below)"
        );
        if let Some(p) = &self.pki {
            let _ = writeln!(s, "\nMutual TLS (sandbox PKI, made at this start):");
            let _ = writeln!(s, "  CA           {}", p.ca_pem.display());
        } else if !self.mutual_tls {
            let _ = writeln!(
                s,
                "\nTLS is off: plain HTTP, OAuth2 tokens only (api.tls.mode = \"off\")."
            );
        }
        if !self.credentials.is_empty() {
            let _ = writeln!(
                s,
                "\nTest credentials (OAuth2 client credentials, client_id = OIN):"
            );
            for c in &self.credentials {
                let inst = c
                    .brin
                    .parse()
                    .ok()
                    .and_then(|b| self.reference.institution(&b));
                let level = inst.map(|i| i.participatie.to_string()).unwrap_or_default();
                // Institutions of one samenwerkingsverband read each other's enrolled students
                // as samenwerkingsschool.
                let verband = inst
                    .and_then(|i| i.samenwerkingsverband.as_deref())
                    .map(|v| format!(", samenwerkingsverband {v}"))
                    .unwrap_or_default();
                let _ = writeln!(s, "  {} {} (level {level}{verband})", c.brin, c.naam);
                let _ = writeln!(s, "    client_id     {}", c.client_id);
                let _ = writeln!(s, "    client_secret {}", c.client_secret);
                if let Some(files) = self.client_files(&c.client_id) {
                    let _ = writeln!(
                        s,
                        "    certificate   {}  key {}",
                        files.cert_pem.display(),
                        files.key_pem.display()
                    );
                }
            }
            for b in &self.bestuur_credentials {
                let _ = writeln!(
                    s,
                    "  bevoegd gezag {} (of {}; reads students only)",
                    b.bestuur,
                    b.instellingen.join(", ")
                );
                let _ = writeln!(s, "    client_id     {}", b.client_id);
                let _ = writeln!(s, "    client_secret {}", b.client_secret);
                if let Some(files) = self.client_files(&b.client_id) {
                    let _ = writeln!(
                        s,
                        "    certificate   {}  key {}",
                        files.cert_pem.display(),
                        files.key_pem.display()
                    );
                }
            }
            if let (Some(c), Some(p)) = (self.credentials.first(), &self.pki)
                && let Some(files) = self.client_files(&c.client_id)
            {
                let _ = writeln!(s, "\nA token for {}:", c.naam);
                let _ = writeln!(
                    s,
                    "  curl -s --cacert {} --cert {} --key {} -u {}:{} \\\n    -d grant_type=client_credentials {u}/api/v1/oauth2/token",
                    p.ca_pem.display(),
                    files.cert_pem.display(),
                    files.key_pem.display(),
                    c.client_id,
                    c.client_secret
                );
            }
        }
        if !self.operator_credentials.is_empty() {
            let _ = writeln!(
                s,
                "\nOperator tokens (knooppunt ops --url {} --token <token> status):",
                self.operator_url
            );
            for c in &self.operator_credentials {
                let _ = writeln!(s, "  {:<8} {:<16} {}", c.role, c.name, c.token);
            }
        }
        if !self.students.is_empty() {
            let _ = writeln!(s, "\nSample students (test BSNs; DUO personalia recorded):");
            for st in &self.students {
                let _ = writeln!(s, "  {}  {}", st.bsn.digits(), st.profiel);
            }
        }
        if !self.simulators.is_empty() {
            let _ = writeln!(
                s,
                "\nPartner simulators (what they received: GET <url>/_sim/received):"
            );
            for (name, sim) in &self.simulators {
                let _ = writeln!(s, "  {name:<11} {}", sim.url());
            }
        }
        if !self.receivers.is_empty() {
            let _ = writeln!(s, "\nWhere partners push to Knooppunt:");
            for (name, receiver) in &self.receivers {
                let _ = writeln!(s, "  {name:<11} {}", receiver.url());
            }
        }
        s
    }
}
