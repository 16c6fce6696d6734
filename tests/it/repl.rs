//! `groundup repl` as a person uses it (on a pseudo-terminal, through
//! expectrl), piped (`echo … | groundup repl`), against moto, and the
//! `groundup fns` metadata it shares.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use expectrl::{ControlCode, Eof, Regex, WaitStatus};

use crate::support::{Moto, Project, Sdk};

/// A groundup REPL on a pseudo-terminal.
struct Term {
    s: expectrl::Session,
    seen: String,
}

impl Term {
    /// Starts `groundup <args> repl` in `p` with a private state directory
    /// for its history.
    fn start(p: &mut Project, args: &[&str]) -> Term {
        let xdg = p.path().join("xdg-state");
        p.env
            .push(("XDG_STATE_HOME".into(), xdg.display().to_string()));
        p.env
            .push(("HOME".into(), p.path().join("home").display().to_string()));
        p.env.push(("TERM".into(), "xterm".into()));
        let mut all = args.to_vec();
        all.push("repl");
        let mut s = expectrl::Session::spawn(p.pty_cmd(&all)).expect("spawn groundup repl");
        // Debug build, two shared cores: be generous.
        s.set_expect_timeout(Some(Duration::from_secs(60)));
        let mut t = Term {
            s,
            seen: String::new(),
        };
        t.want("Ctrl-D leaves");
        t
    }

    /// Waits for `text` in the output; panics with what was seen.
    fn want(&mut self, text: &str) {
        self.want_re(&regex_escape(text));
    }

    /// Waits for a regex in the output.
    fn want_re(&mut self, re: &str) {
        match self.s.expect(Regex(re)) {
            Ok(c) => self.seen.push_str(&String::from_utf8_lossy(c.as_bytes())),
            Err(e) => {
                self.s.set_expect_timeout(Some(Duration::from_secs(1)));
                if let Ok(c) = self.s.expect(Regex("(?s).+")) {
                    self.seen.push_str(&String::from_utf8_lossy(c.as_bytes()));
                }
                panic!(
                    "waiting for {re:?}: {e}\n--- terminal so far:\n{}",
                    self.seen
                );
            }
        }
    }

    /// Waits until the REPL is back at its prompt, reading keys (rustyline
    /// turns bracketed paste on at each prompt).  Control keys must wait for
    /// this, as a person does: typed while an input is still being
    /// evaluated, the terminal's line discipline takes Ctrl-D, and rustyline
    /// drops keys typed ahead of a Ctrl-C that clears the line.
    fn prompt(&mut self) {
        self.want_re(r"\x1b\[\?2004h");
    }

    /// Presses Ctrl-C.
    fn ctrl_c(&mut self) {
        self.s.send(ControlCode::EndOfText).expect("Ctrl-C");
    }

    /// Types keys (no Enter).
    fn keys(&mut self, keys: &str) {
        self.s.send(keys).expect("type");
    }

    /// Types a line and Enter.
    fn line(&mut self, line: &str) {
        self.keys(&format!("{line}\r"));
    }

    /// Ctrl-D at the next prompt, then the exit code.
    fn quit(mut self) -> i32 {
        self.prompt();
        self.s.send(ControlCode::EndOfTransmission).expect("Ctrl-D");
        if let Err(e) = self.s.expect(Eof) {
            let _ = self.s.get_process_mut().kill(expectrl::Signal::SIGKILL);
            panic!(
                "groundup repl did not leave on Ctrl-D: {e}\n--- terminal so far:\n{}",
                self.seen
            );
        }
        match self.s.get_process().wait() {
            Ok(WaitStatus::Exited(_, code)) => code,
            other => panic!("groundup repl did not exit normally: {other:?}"),
        }
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[test]
fn a_person_at_the_terminal() {
    let mut p = Project::new();
    let mut t = Term::start(&mut p, &["--plan"]);

    // A cidr:: call prints its value.
    t.line(r#"cidr::host("172.31.0.0/24", 10)"#);
    t.want("172.31.0.10");

    // Variables and functions persist; an open bracket continues the input.
    t.line("let n = 6 * 7;");
    t.line("fn triple(x) {");
    t.line("  x * 3");
    t.line("}");
    t.line("triple(n)");
    t.want("126");

    // An error is a diagnostic and the session goes on.
    t.line(r#"cidr::host("172.31.0.0/24", 300)"#);
    t.want("host number 300 is outside 172.31.0.0/24");
    t.want("<input 5>:1:7");
    t.line("n + 1");
    t.want("43");

    // Tab completes a namespace, then a function in it.
    t.keys("ci\t");
    t.keys("su\t");
    t.line(r#""10.0.0.0/16", 8, 3)"#);
    t.want("10.0.3.0/24");

    // Setting names after `cluster.`, properties after a typed value.
    t.keys("cluster.vpc_ci\t");
    t.line("");
    t.want("172.31.0.0/16");
    t.line(r#"let vpc = ec2::create_vpc(cidr::subnet("10.0.0.0/8", 8, 9));"#);
    t.keys("vpc.ci\t");
    t.line("");
    t.want("10.9.0.0/16");
    t.line("vpc");
    t.want("Vpc vpc-planned001 10.9.0.0/16 (Name=k8s-cluster");

    // The PKI is there too (its namespace and types come from the engine).
    // (Each completion is checked on the redrawn line, and each answer is
    // one the typed text does not contain.)
    t.keys("pk\t");
    t.want("pki::");
    t.line(r#"ca("ca", #{ cn: "Kube" + "rnetes" }).cn"#);
    t.want("Kubernetes");
    t.line("let ca = pki::ca(\"ca\", #{ cn: \"Kubernetes\" });");
    t.keys("ca.is_c\t");
    t.want("ca.is_ca");
    t.line(r#" && ca.cn.len() == 5 + 5"#);
    t.want("true");

    // A hint shows the signature while typing; Ctrl-C clears the line.
    t.keys("cidr::hostn");
    t.want("ame(ip: string) -> string");
    t.ctrl_c();
    t.prompt();
    t.line("n + 2");
    t.want("44");

    // :help shows a function's signature and doc comment.
    t.line(":help ec2::create_vpc");
    t.want("ec2::create_vpc(cidr_block: string) -> Vpc");
    t.want("Idempotent: a re-run reuses it.");

    // Ctrl-C stops a long loop; the session and its variables survive.
    t.line(r#"print("loop" + "ing"); let i = 0; loop { i += 1; }"#);
    t.want("looping");
    std::thread::sleep(Duration::from_millis(500));
    t.ctrl_c();
    t.want("interrupted");
    t.line(r#"if i > 100 { "still " + "here" }"#);
    t.want("still here");

    // Ctrl-D leaves with success.
    assert_eq!(t.quit(), 0);
}

#[test]
fn history_is_private_and_never_stores_key_material() {
    let mut p = Project::new();
    let mut t = Term::start(&mut p, &["--plan"]);
    t.line(r#"cidr::host("10.0.0.0/24", 17)"#);
    t.want("10.0.0.17");
    t.line(r#"let key_pem = "-----BEGIN PRIVATE KEY-----";"#);
    t.line(r#"let aws = #{ secret: "abc" };"#);
    t.line(":fns cidr");
    t.want("cidr::subnet(base: string, newbits: int, netnum: int) -> string");
    assert_eq!(t.quit(), 0);

    let file: PathBuf = p.path().join("xdg-state/groundup/history");
    let text = std::fs::read_to_string(&file).expect("history file");
    assert!(text.contains(r#"cidr::host("10.0.0.0/24", 17)"#), "{text}");
    assert!(text.contains(":fns cidr"), "{text}");
    for secret in ["BEGIN", "key_pem", "secret"] {
        assert!(!text.contains(secret), "{secret} in history:\n{text}");
    }
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "history file mode");

    // The next session has it: ↑ twice brings back the cidr line.
    let mut t = Term::start(&mut p, &["--plan"]);
    t.prompt();
    t.keys("\x1b[A\x1b[A\r");
    t.want("10.0.0.17");
    assert_eq!(t.quit(), 0);
}

#[test]
fn ctrl_c_cancels_a_hanging_aws_call() {
    // An "endpoint" that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let mut p = Project::new();
    let mut t = Term::start(&mut p, &["--endpoint", &endpoint]);
    t.line(r#"print("call" + "ing"); ec2::create_vpc("10.0.0.0/16")"#);
    t.want("calling");
    std::thread::sleep(Duration::from_millis(1500));
    t.ctrl_c();
    t.want("interrupted");
    t.line("20 + 3");
    t.want("23");
    assert_eq!(t.quit(), 0);
}

#[test]
fn piped_input_prints_values_and_exit_codes() {
    let p = Project::new();
    let input = "cidr::host(\"172.31.0.0/24\", 10)\n\
                 let a = cidr::size(\"10.0.0.0/28\");\n\
                 fn twice(x) {\n    x * 2\n}\n\
                 twice(a)\n\
                 cluster.subnet_cidr\n\
                 let vpc = ec2::create_vpc(\"10.4.0.0/16\");\n\
                 vpc.id\n";
    let run = p.run_with_input(&["--plan", "repl"], input).ok();
    assert_eq!(
        run.stdout, "172.31.0.10\n32\n172.31.0.0/24\nvpc-planned001\n",
        "{}",
        run.stderr
    );

    // A failing line: a diagnostic on stderr with its stdin line, the
    // other lines still run, exit 2.
    let input = "let a = 1;\ncidr::host(\"172.31.0.0/24\", 300)\na + 1\n";
    let run = p.run_with_input(&["--plan", "repl"], input).expect_code(2);
    assert_eq!(run.stdout, "2\n");
    assert!(
        run.err_flat()
            .contains("cidr::host: host number 300 is outside 172.31.0.0/24"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("[<stdin>:2:7]"), "{}", run.stderr);
    assert!(
        run.stderr.contains("1 of 3 input(s) failed"),
        "{}",
        run.stderr
    );

    // A syntax error and an unknown meta-command fail too.
    let run = p
        .run_with_input(&["--plan", "repl"], "let x = ;\n:nope\n")
        .expect_code(2);
    assert!(run.stderr.contains("[<stdin>:1:9]"), "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown meta-command `:nope`"),
        "{}",
        run.stderr
    );

    // A bad setting is a usage error before anything runs.
    let run = p
        .run_with_input(&["--set", "workers=-2", "repl"], "1\n")
        .expect_code(1);
    assert!(run.stdout.is_empty());
}

#[test]
fn piped_pki_exploration() {
    let p = Project::new();
    let input = "let ca = pki::ca(\"ca\", #{ cn: \"Kubernetes\", o: \"Kubernetes\" });\n\
                 ca.cn\n\
                 ca.is_ca\n\
                 ca.key\n\
                 :help Cert\n";
    let run = p.run_with_input(&["repl"], input).ok();
    let out = &run.stdout;
    assert!(out.starts_with("Kubernetes\ntrue\nPrivateKey "), "{out}");
    assert!(
        out.contains("(rsa-2048, mode 0600, matches its certificate)"),
        "{out}"
    );
    assert!(out.contains(".days_left               -> int"), "{out}");
    assert!(
        out.contains(".key                     -> PrivateKey"),
        "{out}"
    );
    let pki = p.state_dir().join("k8s-cluster/pki");
    assert!(pki.join("ca.pem").is_file() && pki.join("ca-key.pem").is_file());
}

#[test]
fn piped_meta_commands() {
    let p = Project::new();
    let input = ":help cidr::subnet\n\
                 :help Vpc\n\
                 :help vpc_cidr\n\
                 :help\n\
                 let answer = 42;\n\
                 :vars\n\
                 :reset\n\
                 :vars\n\
                 :settings\n\
                 :run network\n\
                 :plan\n";
    let run = p.run_with_input(&["--plan", "repl"], input).ok();
    let out = &run.stdout;
    for want in [
        "cidr::subnet(base: string, newbits: int, netnum: int) -> string\n    The `netnum`-th subnet of `base`",
        "Vpc: properties and methods",
        ".cidr                    -> string     Its CIDR block.",
        "cluster.vpc_cidr = \"172.31.0.0/16\"  [stdlib/cluster.rhai]",
        "  ec2::      create_dhcp_options, create_internet_gateway",
        ":plan [on|off]",
        "answer: int = 42",
        "forgot every variable, function and import",
        "vpc_cidr                   = \"172.31.0.0/16\"",
        "<builtin>/runbooks/network.rhai: 16 AWS operation(s) would be made",
        "plan mode is on; 16 AWS operation(s) recorded:",
        "  1. CreateVpc -> vpc-planned001",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // After :reset only the cluster constant is left.
    let after = out.split("forgot every variable").nth(1).unwrap();
    assert!(!after.contains("answer: int"), "{after}");
    assert!(after.contains("const cluster: map = #{"), "{after}");
}

#[test]
fn against_moto_a_vpc_made_in_the_repl_is_in_state() {
    let moto = Moto::start();
    let p = Project::new();
    let input = "let vpc = ec2::create_vpc(\"10.1.0.0/16\");\n\
                 vpc\n\
                 :state\n\
                 :plan on\n\
                 ec2::create_subnet(vpc, \"10.1.0.0/24\")\n\
                 :plan off\n\
                 ec2::create_subnet(vpc, \"10.1.0.0/24\").cidr\n\
                 :state\n";
    let run = p
        .run_with_input(&["--endpoint", &moto.endpoint, "repl"], input)
        .ok();
    let st = p.state("k8s-cluster");
    let vpc_id = st["vpc_id"].as_str().expect("vpc_id in state").to_string();
    let out = &run.stdout;
    assert!(
        out.contains(&format!(
            "Vpc {vpc_id} 10.1.0.0/16 (Name=k8s-cluster, dns support=true, dns hostnames=true, created)"
        )),
        "{out}\n{}",
        run.stderr
    );
    assert!(
        out.contains(&format!("  vpc_id                     = {vpc_id}")),
        "{out}"
    );
    // The plan-mode subnet was only planned; the real one is in state.
    assert!(
        out.contains("Subnet subnet-planned001 10.1.0.0/24"),
        "{out}"
    );
    assert!(out.contains("plan mode off"), "{out}");
    let subnet_id = st["subnet_id"].as_str().expect("subnet_id in state");
    assert!(subnet_id.starts_with("subnet-") && !subnet_id.contains("planned"));
    assert!(
        out.contains(&format!("  subnet_id                  = {subnet_id}")),
        "{out}"
    );
    let sdk = Sdk::new(&moto);
    let vpcs = sdk.block(async {
        sdk.ec2
            .describe_vpcs()
            .filters(Sdk::cluster("k8s-cluster"))
            .send()
            .await
            .unwrap()
    });
    let ids: Vec<&str> = vpcs.vpcs().iter().filter_map(|v| v.vpc_id()).collect();
    assert_eq!(ids, vec![vpc_id.as_str()]);
    let subnets = sdk.block(async {
        sdk.ec2
            .describe_subnets()
            .filters(Sdk::cluster("k8s-cluster"))
            .send()
            .await
            .unwrap()
    });
    assert_eq!(subnets.subnets().len(), 1, "plan mode made no subnet");
}

#[test]
fn fns_lists_the_api_and_writes_definitions() {
    let p = Project::new();
    let run = p.run(&["fns", "--json"]).ok();
    let fns = run.json();
    let vpc = fns
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["namespace"] == "ec2" && f["name"] == "create_vpc")
        .expect("ec2::create_vpc listed");
    assert_eq!(
        vpc["signature"],
        "ec2::create_vpc(cidr_block: string) -> Vpc"
    );
    assert!(
        vpc["doc"]
            .as_str()
            .unwrap()
            .contains("Finds or creates the cluster's VPC"),
        "{vpc}"
    );
    assert!(!run.stdout.contains("EvalAltResult"), "{}", run.stdout);

    let run = p.run(&["fns", "cidr"]).ok();
    assert!(
        run.stdout
            .starts_with("cidr::contains(outer: string, inner: string) -> bool\n"),
        "{}",
        run.stdout
    );

    let dir = p.path().join("defs");
    p.run(&["fns", "--definitions", dir.to_str().unwrap()]).ok();
    let ec2 = std::fs::read_to_string(dir.join("ec2.d.rhai")).expect("ec2.d.rhai");
    assert!(ec2.starts_with("module ec2;"), "{ec2}");
    assert!(
        ec2.contains("/// Finds or creates the cluster's VPC")
            && ec2.contains("fn create_vpc(cidr_block: string) -> Vpc;"),
        "{ec2}"
    );
    let state = std::fs::read_to_string(dir.join("state.d.rhai")).unwrap();
    assert!(state.contains("fn keys() -> array;"), "{state}");
    assert!(state.contains("fn remove(key: string);"), "{state}");
    let scope = std::fs::read_to_string(dir.join("__scope__.d.rhai")).unwrap();
    assert!(scope.contains("const cluster: map;"), "{scope}");
    for e in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(!text.contains("EvalAltResult"), "{text}");
    }
}
