//! Tests of the configuration: loading, validation and the production rules.

use super::*;

#[test]
fn defaults_are_the_sandbox() {
    let c = Config::default();
    c.validate().unwrap();
    assert!(c.is_sandbox());
    assert!(c.seeds_students());
    assert_eq!(c.api.tls, TlsMode::Sandbox);
}

#[test]
fn file_then_environment() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "k.toml",
            r#"
            mode = "sandbox"
            sandbox_dir = "/tmp/kp"
            [api]
            listen = "127.0.0.1:9443"
            tls = { mode = "off" }
            [store]
            kind = "postgres"
            url = "postgres://postgres@127.0.0.1/test"
            person_key_file = "/etc/knooppunt/person.key"
            [bus]
            kind = "amqp"
            url = "amqp://guest:guest@127.0.0.1:5672/%2f"
            [partners.intergrip]
            endpoint = "https://intergrip.example/api"
            timeout_ms = 5000
            [partners.intergrip.delivery]
            tiers_ms = [1000, 2000]
            "#,
        )?;
        jail.set_env("KNOOPPUNT_API__TOKEN_TTL_SECONDS", "600");
        jail.set_env("KNOOPPUNT_STORE__MAX_CONNECTIONS", "20");
        // Not fields: the file's name and the log filter.
        jail.set_env("KNOOPPUNT_CONFIG", "k.toml");
        jail.set_env("KNOOPPUNT_LOG", "info");
        jail.set_env("KNOOPPUNT_LOG_FORMAT", "json");
        let c = Config::load(Some(Path::new("k.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(c.api.listen, SocketAddr::from(([127, 0, 0, 1], 9443)));
        assert_eq!(c.api.token_ttl_seconds, 600);
        assert_eq!(c.api.tls, TlsMode::Off);
        assert!(matches!(
            c.store,
            StoreSettings::Postgres {
                max_connections: 20,
                ..
            }
        ));
        assert!(matches!(c.bus, BusSettings::Amqp { .. }));
        assert!(!c.is_sandbox());
        assert!(!c.seeds_students());
        let p = &c.partners[&Partner::Intergrip];
        assert_eq!(p.timeout_ms, Some(5000));
        assert_eq!(
            p.delivery.as_ref().map(|d| d.tiers_ms.clone()),
            Some(vec![1000, 2000])
        );
        Ok(())
    });
}

#[test]
fn a_wrong_type_or_unknown_field_is_named() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "k.toml",
            "mode = \"sandbox\"\n[api]\nlisten = \"nowhere\"\n",
        )?;
        let e = Config::load(Some(Path::new("k.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("api.listen"), "{e}");
        jail.create_file(
            "k.toml",
            "mode = \"sandbox\"\n[api]\nlisten_on = \"127.0.0.1:1\"\n",
        )?;
        let e = Config::load(Some(Path::new("k.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen_on"), "{e}");
        jail.create_file("k.toml", "mode = \"sandbox\"\n")?;
        jail.set_env("KNOOPPUNT_API__BODY_LIMIT_BYTES", "lots");
        let e = Config::load(Some(Path::new("k.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("api.body_limit_bytes"), "{e}");
        Ok(())
    });
}

#[test]
fn an_unknown_partner_section_is_named() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "k.toml",
            "mode = \"sandbox\"\n[partners.facebook]\ntimeout_ms = 1000\n",
        )?;
        let e = Config::load(Some(Path::new("k.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("partners") && e.contains("facebook"), "{e}");
        Ok(())
    });
}

#[test]
fn the_documented_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/knooppunt.example.toml");
    let c: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::file_exact(&path))
        .extract()
        .map_err(from_figment)
        .unwrap();
    assert_eq!(c.clients.len(), 1);
    assert_eq!(c.bevoegd_gezag_clients.len(), 1);
    assert_eq!(c.partners.len(), 8);
    assert_eq!(c.operator.operators.len(), 1);
    let signing = &c.partners[&Partner::Signing];
    assert_eq!(
        signing.receiver_secret,
        Some(partners::Secret::new(
            "replace-with-the-shared-postback-secret"
        ))
    );
    assert!(
        !format!("{signing:?}").contains("replace-with"),
        "the secret is never printed"
    );
    assert!(matches!(c.api.tls, TlsMode::Files { .. }));
    // Everything but the key and certificate files (absent here) validates.
    let mut c = c;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("api.token_key_file"), "{e}");
    c.api.token_key_file = None;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("api.tls.cert"), "{e}");
    // Plain HTTP in production: on loopback only.
    c.api.tls = TlsMode::Off;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("api.tls") && e.contains("loopback"), "{e}");
    // Behind a TLS-terminating proxy that forwards the client certificate: any address.
    c.api.listen = "0.0.0.0:8080".parse().unwrap();
    c.api.tls = TlsMode::Proxy {
        proxies: vec!["10.0.0.5".parse().unwrap()],
        header: default_proxy_header(),
    };
    let e = c.validate().unwrap_err().to_string();
    assert!(!e.contains("api.tls"), "{e}");
    c.api.tls = TlsMode::Off;
    c.api.listen = "127.0.0.1:8443".parse().unwrap();
    // The CA of the database's certificate is read at start.
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("store.url (sslrootcert)"), "{e}");
    c.store = StoreSettings::Postgres {
        url: "postgres://knooppunt@db.internal/knooppunt?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt".into(),
        max_connections: 64,
        schema: None,
        person_key_file: "/etc/knooppunt/person.key".into(),
    };
    c.validate().unwrap();
}

#[test]
fn the_person_key_file_is_private_in_production_and_never_overwritten() {
    let dir = std::env::temp_dir().join(format!("kp-pkey-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("person.key");
    let _ = std::fs::remove_file(&path);
    write_person_key(&path).unwrap();
    let key = load_person_key(&path, Mode::Production).unwrap();
    assert_eq!(
        load_person_key(&path, Mode::Sandbox).unwrap().key_id(),
        key.key_id()
    );
    // Never replaced: a new key would orphan a database's index.
    assert!(write_person_key(&path).is_err());
    assert_eq!(
        load_person_key(&path, Mode::Production).unwrap().key_id(),
        key.key_id()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_person_key(&path, Mode::Production)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("store.person_key_file") && e.contains("chmod 600"),
            "{e}"
        );
        load_person_key(&path, Mode::Sandbox).unwrap();
    }
    std::fs::write(&path, b"short").unwrap();
    let e = load_person_key(&path, Mode::Sandbox)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("store.person_key_file") && e.contains("at least 32"),
        "{e}"
    );
    let e = load_person_key(&dir.join("missing"), Mode::Production)
        .unwrap_err()
        .to_string();
    assert!(e.contains("store.person_key_file"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_configuration_file_says_its_mode() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("k.toml", "[api]\nlisten = \"127.0.0.1:9443\"\n")?;
        let e = Config::load(Some(Path::new("k.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`mode`") && e.contains("production"), "{e}");
        // The environment may say it too.
        jail.set_env("KNOOPPUNT_MODE", "sandbox");
        let c = Config::load(Some(Path::new("k.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(c.mode, Mode::Sandbox);
        jail.set_env("KNOOPPUNT_MODE", "staging");
        let e = Config::load(Some(Path::new("k.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("mode"), "{e}");
        Ok(())
    });
    // Without a file: the sandbox.
    assert_eq!(Config::default().mode, Mode::Sandbox);
}

/// A production configuration that validates (no files needed).
fn production() -> Config {
    let mut c = Config {
        mode: Mode::Production,
        store: StoreSettings::Postgres {
            url: "postgres://knooppunt@db.internal/knooppunt?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt".into(),
            max_connections: 40,
            schema: None,
            person_key_file: "/etc/knooppunt/person.key".into(),
        },
        bus: BusSettings::Amqp {
            url: "amqps://knooppunt:x@mq.internal:5671/knooppunt".into(),
            ca_file: None,
        },
        clients: vec![ClientSettings {
            oin: "0000000700025LX00000".parse().unwrap(),
            brin: "25LX".parse().unwrap(),
            secret_sha256: "0".repeat(64),
        }],
        ..Config::default()
    };
    c.api.listen = "127.0.0.1:8443".parse().unwrap();
    c.api.tls = TlsMode::Off;
    for partner in partners::supported() {
        c.partners.insert(
            partner,
            PartnerSettings {
                endpoint: Some(format!("https://{partner}.example/api")),
                ..PartnerSettings::default()
            },
        );
    }
    c
}

#[test]
fn production_refuses_every_sandbox_piece_by_name() {
    production().validate().unwrap();
    type Break = Box<dyn Fn(&mut Config)>;
    let cases: Vec<(&str, Break)> = vec![
        ("store.kind", Box::new(|c| c.store = StoreSettings::Memory)),
        ("bus.kind", Box::new(|c| c.bus = BusSettings::Memory)),
        ("clients", Box::new(|c| c.clients.clear())),
        (
            "operator.tls",
            Box::new(|c| c.operator.listen = "0.0.0.0:8444".parse().unwrap()),
        ),
        (
            "store.url",
            Box::new(|c| {
                c.store = StoreSettings::Postgres {
                    url: "postgres://knooppunt@db.internal/knooppunt".into(),
                    max_connections: 64,
                    schema: None,
                    person_key_file: "/etc/knooppunt/person.key".into(),
                }
            }),
        ),
        (
            "bus.url",
            Box::new(|c| {
                c.bus = BusSettings::Amqp {
                    url: "amqp://knooppunt:x@mq.internal:5672/knooppunt".into(),
                    ca_file: None,
                }
            }),
        ),
        ("api.tls", Box::new(|c| c.api.tls = TlsMode::Sandbox)),
        (
            "api.tls",
            Box::new(|c| c.api.listen = "0.0.0.0:8443".parse().unwrap()),
        ),
        ("seed_students", Box::new(|c| c.seed_students = Some(true))),
        (
            "partners.duo.endpoint",
            Box::new(|c| {
                c.partners.remove(&Partner::Duo);
            }),
        ),
        (
            "partners.intergrip.endpoint",
            Box::new(|c| {
                c.partners.get_mut(&Partner::Intergrip).unwrap().endpoint =
                    Some("http://intergrip.example".into());
            }),
        ),
        (
            "partners.duo.receiver_url",
            Box::new(|c| {
                c.partners.get_mut(&Partner::Duo).unwrap().receiver_url =
                    Some("http://knooppunt.example/duo".into());
            }),
        ),
    ];
    for (field, break_it) in cases {
        let mut c = production();
        break_it(&mut c);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(&format!("`{field}`")), "{field}: {e}");
        // The same in the sandbox is allowed.
        c.mode = Mode::Sandbox;
        c.validate()
            .unwrap_or_else(|e| panic!("sandbox, {field}: {e}"));
    }
    // Plain HTTP to a partner only when explicitly allowed.
    let mut c = production();
    let p = c.partners.get_mut(&Partner::Intergrip).unwrap();
    p.endpoint = Some("http://127.0.0.1:8080".into());
    p.allow_plain_http = true;
    c.validate().unwrap();
}

#[test]
fn wrong_values_are_named() {
    let mut c = Config::default();
    c.api.token_ttl_seconds = 5;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("api.token_ttl_seconds"), "{e}");

    // Behind a proxy: its addresses are required, the header must be a header name.
    let mut c = Config::default();
    c.api.tls = TlsMode::Proxy {
        proxies: vec![],
        header: default_proxy_header(),
    };
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("api.tls.proxies"), "{e}");
    c.api.tls = TlsMode::Proxy {
        proxies: vec!["10.0.0.5".parse().unwrap()],
        header: "x client cert".into(),
    };
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("api.tls.header"), "{e}");

    // The broker's CA: a file, and only with amqps://.
    for (url, ca, expect) in [
        (
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            "Cargo.toml",
            "amqps://",
        ),
        (
            "amqps://guest:guest@mq.internal:5671/%2f",
            "missing.pem",
            "no such file",
        ),
    ] {
        let c = Config {
            bus: BusSettings::Amqp {
                url: url.into(),
                ca_file: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(ca)),
            },
            ..Config::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("bus.ca_file") && e.contains(expect), "{e}");
    }

    for n in [0, 100_001] {
        let mut c = Config::default();
        c.api.max_connections = n;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("api.max_connections"), "{e}");
    }
    for secs in [0, 3601] {
        let mut c = Config::default();
        c.api.idle_timeout_seconds = secs;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("api.idle_timeout_seconds"), "{e}");
    }

    for n in [0, 101] {
        let mut c = Config::default();
        c.api.max_long_polls_per_client = n;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("api.max_long_polls_per_client"), "{e}");
    }

    for hours in [0, 721] {
        let mut c = Config::default();
        c.api.idempotency_retention_hours = hours;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("api.idempotency_retention_hours"), "{e}");
    }

    let mut c = Config::default();
    c.partners.insert(
        Partner::Duo,
        PartnerSettings {
            receiver_url: Some("duo.example".into()),
            ..PartnerSettings::default()
        },
    );
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("partners.duo.receiver_url"), "{e}");

    let mut c = Config::default();
    c.partners.insert(
        Partner::Signing,
        PartnerSettings {
            poll_after_ms: Some(0),
            ..PartnerSettings::default()
        },
    );
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("partners.signing.poll_after_ms"), "{e}");

    let mut c = Config::default();
    c.partners.insert(Partner::Rio, PartnerSettings::default());
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.contains("partners.rio") && e.contains("no adapter for this partner"),
        "{e}"
    );

    let c = Config {
        store: StoreSettings::Postgres {
            url: "postgres://x@127.0.0.1/test".into(),
            max_connections: 5,
            schema: None,
            person_key_file: "/etc/knooppunt/person.key".into(),
        },
        ..Config::default()
    };
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("store.max_connections"), "{e}");

    // A client's OIN must be its BRIN's.
    let mut c = Config::default();
    c.clients.push(ClientSettings {
        oin: "0000000700025LX00000".parse().unwrap(),
        brin: "28AB".parse().unwrap(),
        secret_sha256: "0".repeat(64),
    });
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.contains("clients[0].oin") && e.contains("0000000700028AB00000"),
        "{e}"
    );
    c.clients[0].brin = "25LX".parse().unwrap();
    c.validate().unwrap();

    let c = Config {
        bus: BusSettings::Amqp {
            url: "http://mq".into(),
            ca_file: None,
        },
        ..Config::default()
    };
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("bus.url"), "{e}");

    let e = Config::load_from(
        Some(Path::new("/nonexistent/knooppunt.toml")),
        Env::prefixed("KNOOPPUNT_UNUSED_"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--config") && e.contains("no such file"), "{e}");
}

#[test]
fn bevoegd_gezag_clients_are_read_and_their_mistakes_named() {
    let toml = format!(
        r#"
        [[bevoegd_gezag_clients]]
        oin = "00000001000100B49000"
        bestuur = "100B490"
        secret_sha256 = "{}"
        "#,
        "a".repeat(64)
    );
    let c: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(&toml))
        .extract()
        .map_err(from_figment)
        .unwrap();
    assert_eq!(c.bevoegd_gezag_clients.len(), 1);
    assert_eq!(c.bevoegd_gezag_clients[0].bestuur.as_str(), "100B490");
    c.validate().unwrap();

    // A malformed bestuur code is named by the parser.
    let bad = toml.replace("100B490\"", "1-0\"");
    let e = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(&bad))
        .extract::<Config>()
        .map_err(from_figment)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bestuur"), "{e}");

    // A secret that is not a SHA-256; an OIN of another client.
    let mut c2 = c.clone();
    c2.bevoegd_gezag_clients[0].secret_sha256 = "secret".into();
    let e = c2.validate().unwrap_err().to_string();
    assert!(e.contains("bevoegd_gezag_clients[0].secret_sha256"), "{e}");
    let mut c3 = c.clone();
    c3.bevoegd_gezag_clients
        .push(c.bevoegd_gezag_clients[0].clone());
    let e = c3.validate().unwrap_err().to_string();
    assert!(e.contains("bevoegd_gezag_clients[1].oin"), "{e}");
}
