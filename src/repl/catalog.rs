//! What completion, hints and `:help` know about: the registered API (from
//! the engine's metadata, so every namespace that is registered appears,
//! `pki::` included) and a snapshot of the session (variables, script
//! functions, state keys, settings).

use std::sync::Arc;

use rhai::Engine;

use crate::docs::{self, FnDoc, Member};

/// The registered API of one engine.
#[derive(Debug, Default, Clone)]
pub struct Api {
    /// Host namespaces (`cidr`, `ec2`, …, plus imported module aliases).
    pub namespaces: Vec<String>,
    /// Every host function with its signature and documentation.
    pub functions: Vec<FnDoc>,
    /// Properties and methods of every type.
    pub members: Vec<Member>,
    /// The host's types that have properties (`Vpc`, `Subnet`, …).
    pub types: Vec<String>,
}

impl Api {
    /// Reads an engine's metadata.
    pub fn from_engine(engine: &Engine) -> Api {
        let functions = docs::functions(engine);
        let mut namespaces: Vec<String> = crate::api::NAMESPACES
            .iter()
            .map(|s| s.to_string())
            .chain(
                functions
                    .iter()
                    .filter(|f| !f.namespace.is_empty())
                    .map(|f| f.namespace.clone()),
            )
            .collect();
        namespaces.sort();
        namespaces.dedup();
        let members = docs::members(engine);
        let types = docs::custom_types(engine)
            .into_iter()
            .filter(|t| members.iter().any(|m| m.getter && m.type_name == *t))
            .collect();
        Api {
            namespaces,
            functions,
            members,
            types,
        }
    }

    /// The functions named `name` (`ec2::create_vpc`, or `step` for a
    /// global one).
    pub fn lookup(&self, name: &str) -> Vec<&FnDoc> {
        let (ns, short) = match name.rsplit_once("::") {
            Some((ns, short)) => (ns, short),
            None => ("", name),
        };
        self.functions
            .iter()
            .filter(|f| f.namespace == ns && f.name == short)
            .collect()
    }

    /// The functions of a namespace.
    pub fn in_namespace(&self, ns: &str) -> Vec<&FnDoc> {
        self.functions
            .iter()
            .filter(|f| f.namespace == ns)
            .collect()
    }

    /// The properties and methods of a type (`Vpc`, `string`, `map`).
    pub fn members_of(&self, type_name: &str) -> Vec<&Member> {
        self.members
            .iter()
            .filter(|m| m.type_name.eq_ignore_ascii_case(type_name))
            .collect()
    }
}

/// A variable in the session's scope.
#[derive(Debug, Clone)]
pub struct Var {
    /// Its name.
    pub name: String,
    /// Its type as scripts name it (`Vpc`, `string`, `map`, `int`).
    pub type_name: String,
    /// For a map: its keys.
    pub keys: Vec<String>,
}

/// Everything completion and hints know at one prompt.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// The registered API.
    pub api: Arc<Api>,
    /// Variables in scope (the `cluster` constant included).
    pub vars: Vec<Var>,
    /// Functions defined in the session: name and signature (`f(a, b)`).
    pub script_fns: Vec<(String, String)>,
    /// Keys recorded in the cluster's state.
    pub state_keys: Vec<String>,
    /// Setting names.
    pub settings: Vec<String>,
}

impl Catalog {
    /// A variable by name.
    pub fn var(&self, name: &str) -> Option<&Var> {
        self.vars.iter().find(|v| v.name == name)
    }
}
