//! `ssh::` — reaching the nodes: upload files, run commands (thin bindings
//! over [`crate::ssh`]).

use rhai::plugin::*;
use rhai::{Array, Map};

use crate::ssh::{self, Command, FileSpec, NodeFiles, NodeOutcome, Output};

crate::api::namespace!("ssh");

/// Node names from a string or a list of strings.
fn names(ctx: &NativeCallContext, nodes: Dynamic) -> Result<Vec<String>, Box<EvalAltResult>> {
    if nodes.is_string() {
        return Ok(vec![nodes.to_string()]);
    }
    match nodes.try_cast::<Array>() {
        Some(a) => crate::api::strings(ctx, NS, "nodes", a),
        None => Err(bad_arg(
            ctx,
            "nodes must be a node name or a list of node names",
        )),
    }
}

fn mode_of(v: &Dynamic) -> Option<u32> {
    if let Ok(i) = v.as_int() {
        return u32::try_from(i).ok().filter(|m| *m <= 0o7777);
    }
    if v.is_string() {
        return u32::from_str_radix(v.to_string().trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o7777);
    }
    None
}

const FILE_FIELDS: &[&str] = &["path", "src", "data", "mode", "owner", "group"];

/// One file map: `#{ path, src | data, mode, owner, group }`.
fn file_spec(h: &crate::host::Host, m: &Map) -> Result<FileSpec, String> {
    for k in m.keys() {
        if !FILE_FIELDS.contains(&k.as_str()) {
            return Err(format!(
                "unknown field `{k}` in a file map (fields: {})",
                FILE_FIELDS.join(", ")
            ));
        }
    }
    let text = |k: &str| m.get(k).filter(|v| v.is_string()).map(|v| v.to_string());
    let dest = text("path").ok_or("a file map needs `path`: where the file goes on the node")?;
    let (content, source) = match (text("src"), m.get("data")) {
        (Some(_), Some(_)) => return Err(format!("{dest}: give `src` or `data`, not both")),
        (Some(src), None) => match h.source_file(&src) {
            Ok(bytes) => (bytes, src),
            // Under --plan the file may not be made yet (pki planned too).
            Err(_) if h.planning() && ssh::check_source_path(&src).is_ok() => {
                (Vec::new(), format!("{src} (not made yet)"))
            }
            Err(e) => return Err(format!("{dest}: {}", e.message)),
        },
        (None, Some(d)) if d.is_string() => (d.to_string().into_bytes(), "data".to_string()),
        (None, Some(d)) if d.is_blob() => (d.clone().cast::<rhai::Blob>(), "data".to_string()),
        _ => {
            return Err(format!(
                "{dest}: needs `src` (a file in the cluster's state directory, e.g. \"pki/ca.pem\") or `data` (a string)"
            ));
        }
    };
    let mode = match m.get("mode") {
        None => 0o644,
        Some(v) => {
            mode_of(v).ok_or_else(|| format!("{dest}: mode must be like 0o600 or \"0600\""))?
        }
    };
    let owner = text("owner").unwrap_or_else(|| "root".into());
    let group = text("group").unwrap_or_else(|| owner.clone());
    Ok(FileSpec {
        dest,
        mode,
        owner,
        group,
        content: std::sync::Arc::new(content),
        source,
    })
}

fn file_list(ctx: &NativeCallContext, files: Array) -> Result<Vec<FileSpec>, Box<EvalAltResult>> {
    let h = crate::api::host(ctx)?;
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| match f.try_cast::<Map>() {
            Some(m) => file_spec(&h, &m).map_err(|e| bad_arg(ctx, e)),
            None => Err(bad_arg(
                ctx,
                format!("files[{i}] must be a map #{{ path, src, mode }}"),
            )),
        })
        .collect()
}

fn upload_results(
    ctx: &NativeCallContext,
    out: Vec<NodeOutcome<Vec<ssh::FileResult>>>,
) -> Result<Map, Box<EvalAltResult>> {
    ssh::failures(&out).map_err(|e| fail(ctx, e))?;
    let mut res = Map::new();
    for o in out {
        let files: Array = o
            .result
            .unwrap_or_default()
            .into_iter()
            .map(|f| {
                let mut m = Map::new();
                m.insert("path".into(), f.dest.into());
                m.insert("status".into(), f.status.as_str().into());
                m.insert("sha256".into(), f.sha256.into());
                Dynamic::from_map(m)
            })
            .collect();
        res.insert(o.node.into(), files.into());
    }
    Ok(res)
}

fn output_map(o: Output) -> Dynamic {
    let mut m = Map::new();
    m.insert("code".into(), o.code.into());
    m.insert("stdout".into(), o.stdout.into());
    m.insert("stderr".into(), o.stderr.into());
    Dynamic::from_map(m)
}

fn run_on(
    ctx: &NativeCallContext,
    nodes: Dynamic,
    cmd: Command,
    check: bool,
) -> Result<Map, Box<EvalAltResult>> {
    let h = crate::api::host(ctx)?;
    let names = names(ctx, nodes)?;
    let fleet = h.fleet().map_err(|e| fail(ctx, e))?;
    let out = h
        .block_on(fleet.run(&names, &cmd))
        .map_err(|e| fail(ctx, e))?;
    ssh::failures(&out).map_err(|e| fail(ctx, e))?;
    let mut res = Map::new();
    let mut bad = Vec::new();
    for o in out {
        let r = o.result.unwrap_or_default();
        if check && r.code != 0 {
            bad.push(format!("{} (exit {}): {}", o.node, r.code, r.stderr.trim()));
        }
        res.insert(o.node.into(), output_map(r));
    }
    if !bad.is_empty() {
        return Err(fail(
            ctx,
            crate::error::Error::new(
                crate::error::Kind::Ssh,
                format!("`{}` failed on {}", cmd.line, bad.join("; ")),
            ),
        ));
    }
    Ok(res)
}

#[export_module]
pub mod ssh_api {
    use super::*;

    /// The cluster's nodes as SSH sees them (from compute's records in state,
    /// or the lesson's layout before compute): a list of maps
    /// `#{ name, role, index, instance_id, private_ip, public_ip }`, masters first.
    #[rhai_fn(return_raw)]
    pub fn nodes(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = crate::api::host(&ctx)?;
        let list = h.nodes().map_err(|e| fail(&ctx, e))?;
        Ok(list
            .into_iter()
            .map(|n| {
                let mut m = Map::new();
                m.insert("name".into(), n.name.into());
                m.insert("role".into(), n.role.into());
                m.insert("index".into(), n.index.into());
                m.insert("instance_id".into(), n.instance_id.into());
                m.insert("private_ip".into(), n.private_ip.into());
                m.insert("public_ip".into(), n.public_ip.into());
                Dynamic::from_map(m)
            })
            .collect())
    }

    /// Puts the same `files` on every node in `nodes` (a name or a list of
    /// names), at once. Each file is a map `#{ path: "/var/lib/kubernetes/ca.pem",
    /// src: "pki/ca.pem", mode: 0o644, owner: "root", group: "root" }`: `src`
    /// is a file inside the cluster's state directory (or `data:` a string
    /// the script made); mode defaults to 0o644, owner to root, group to the
    /// owner. A file whose SHA-256, mode and owner already match is not
    /// touched; others are written atomically (temporary file, rename, via
    /// sudo). Returns `#{ "master-0": [#{ path, status, sha256 }, ...] }`
    /// with status created, updated, unchanged (planned under --plan). Fails
    /// naming every node that failed, after the others are done.
    #[rhai_fn(name = "upload", return_raw)]
    pub fn upload_same(
        ctx: NativeCallContext,
        nodes: Dynamic,
        files: Array,
    ) -> Result<Map, Box<EvalAltResult>> {
        let h = crate::api::host(&ctx)?;
        let names = names(&ctx, nodes)?;
        let files = file_list(&ctx, files)?;
        let work: Vec<NodeFiles> = names
            .into_iter()
            .map(|node| NodeFiles {
                node,
                files: files.clone(),
            })
            .collect();
        let fleet = h.fleet().map_err(|e| fail(&ctx, e))?;
        let out = h.block_on(fleet.upload(&work)).map_err(|e| fail(&ctx, e))?;
        upload_results(&ctx, out)
    }

    /// Puts each node's own files on it, all nodes at once: `work` maps a
    /// node name to its list of file maps (see `ssh::upload(nodes, files)`),
    /// e.g. `#{ "worker-0": [..], "worker-1": [..] }`. Same results.
    #[rhai_fn(name = "upload", return_raw)]
    pub fn upload_each(ctx: NativeCallContext, work: Map) -> Result<Map, Box<EvalAltResult>> {
        let h = crate::api::host(&ctx)?;
        let mut list = Vec::new();
        for (node, files) in work {
            let Some(files) = files.try_cast::<Array>() else {
                return Err(bad_arg(
                    &ctx,
                    format!("`{node}` must map to a list of file maps"),
                ));
            };
            list.push(NodeFiles {
                node: node.to_string(),
                files: file_list(&ctx, files)?,
            });
        }
        let fleet = h.fleet().map_err(|e| fail(&ctx, e))?;
        let out = h.block_on(fleet.upload(&list)).map_err(|e| fail(&ctx, e))?;
        upload_results(&ctx, out)
    }

    /// Runs the shell command `command` as the SSH user on every node in
    /// `nodes` (a name or a list), at once. Returns
    /// `#{ "master-0": #{ code, stdout, stderr }, ... }`; a non-zero exit code
    /// is a result, not an error. Under --plan it is listed and not run.
    #[rhai_fn(name = "run", return_raw)]
    pub fn run(
        ctx: NativeCallContext,
        nodes: Dynamic,
        command: &str,
    ) -> Result<Map, Box<EvalAltResult>> {
        run_on(&ctx, nodes, Command::new(command), false)
    }

    /// Like `ssh::run(nodes, command)`, with options
    /// `#{ sudo: true, stdin: "text", check: true }`: `sudo` runs it as root
    /// (`sudo -n`), `stdin` feeds it input (never planned or printed),
    /// `check` fails naming every node whose exit code is not 0.
    #[rhai_fn(name = "run", return_raw)]
    pub fn run_with(
        ctx: NativeCallContext,
        nodes: Dynamic,
        command: &str,
        options: Map,
    ) -> Result<Map, Box<EvalAltResult>> {
        let mut cmd = Command::new(command);
        let mut check = false;
        for (k, v) in options {
            match (k.as_str(), v) {
                ("sudo", v) if v.is_bool() => cmd.sudo = v.as_bool().unwrap_or(false),
                ("check", v) if v.is_bool() => check = v.as_bool().unwrap_or(false),
                ("stdin", v) if v.is_string() => {
                    cmd.stdin = Some(std::sync::Arc::new(v.to_string().into_bytes()))
                }
                (k, _) => {
                    return Err(bad_arg(
                        &ctx,
                        format!("option `{k}`: expected sudo: bool, check: bool or stdin: string"),
                    ));
                }
            }
        }
        run_on(&ctx, nodes, cmd, check)
    }

    /// Runs `command` as root (`sudo -n sh -c …`) on every node in `nodes`
    /// and fails naming every node where it exited non-zero; returns the
    /// same map as `ssh::run`.
    #[rhai_fn(return_raw)]
    pub fn sudo(
        ctx: NativeCallContext,
        nodes: Dynamic,
        command: &str,
    ) -> Result<Map, Box<EvalAltResult>> {
        run_on(&ctx, nodes, Command::sudo(command), true)
    }
}
