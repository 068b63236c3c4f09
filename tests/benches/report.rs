//! The bench report: one row per figure, printed as a table and written as
//! JSON rows `{"name", "value", "unit", "target", "met"}`.

#![allow(clippy::print_stdout)]
// Sections use these as they land; until then parts are unused.
#![allow(dead_code)]

use std::path::Path;

use serde::Serialize;

/// Which way a target points.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// Human-readable target, e.g. `>= 50`; null for informational rows.
    pub target: Option<String>,
    pub met: Option<bool>,
}

#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    /// Records a figure measured against a target.
    pub fn check(&mut self, name: &str, value: f64, unit: &str, goal: Goal) {
        let (target, met) = match goal {
            Goal::AtLeast(t) => (format!(">= {t}"), value >= t),
            Goal::AtMost(t) => (format!("<= {t}"), value <= t),
        };
        self.rows.push(Row {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
            target: Some(target),
            met: Some(met),
        });
    }

    /// Records a figure that has no target (context for the others).
    pub fn info(&mut self, name: &str, value: f64, unit: &str) {
        self.rows.push(Row {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
            target: None,
            met: None,
        });
    }

    pub fn print(&self) {
        let width = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        println!(
            "{:<width$}  {:>14}  {:<8}  {:<12}  met",
            "name", "value", "unit", "target"
        );
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            println!(
                "{:<width$}  {:>14.3}  {:<8}  {:<12}  {met}",
                r.name,
                r.value,
                r.unit,
                r.target.as_deref().unwrap_or("-")
            );
        }
    }

    pub fn write(&self, path: &str) -> anyhow::Result<()> {
        let path = Path::new(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(&self.rows)?)?;
        Ok(())
    }
}
