//! Evaluation forms: criteria with integer weights summing to 100, so a call's score is
//! Σ weight × grade ÷ 100 with every grade 0–100. Forms are versioned: a change is a new
//! version of the same form id, and old versions stay (evaluations name the version they
//! used). The tender's four criteria with 20/20/40/20 are the default form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The default form's id.
pub const DEFAULT_FORM: &str = "imq";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// Stable key the grades are stored under.
    pub key: String,
    /// What the monitor reads (pt-BR).
    pub label: String,
    /// Percent of the call's score; a form's weights sum to 100.
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Form {
    pub id: String,
    pub version: u32,
    pub title: String,
    pub criteria: Vec<Criterion>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("form id must be 1 to 40 of a-z, 0-9, - and _")]
    Id,
    #[error("form title must be 1 to 200 characters")]
    Title,
    #[error("a form has 1 to 20 criteria")]
    CriteriaCount,
    #[error("criterion {0:?}: key must be 1 to 40 of a-z, 0-9 and _, and unique")]
    Key(String),
    #[error("criterion {0:?}: label must be 1 to 200 characters")]
    Label(String),
    #[error("criterion {0:?}: weight must be at least 1")]
    Weight(String),
    #[error("the weights sum to {0}, not 100")]
    WeightSum(u32),
    #[error("criterion {0:?} is not graded")]
    Missing(String),
    #[error("{0:?} is not a criterion of this form")]
    Unknown(String),
    #[error("criterion {0:?}: a grade is 0 to 100")]
    Grade(String),
}

fn slug(s: &str, extra: &[char]) -> bool {
    (1..=40).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(&c))
}

impl Form {
    /// The tender's form (4.1.8 q, "Monitoria de Qualidade"): 20/20/40/20.
    pub fn tender_default() -> Form {
        let c = |key: &str, label: &str, weight| Criterion {
            key: key.into(),
            label: label.into(),
            weight,
        };
        Form {
            id: DEFAULT_FORM.into(),
            version: 1,
            title: "Monitoria de Qualidade (IMQ)".into(),
            criteria: vec![
                c(
                    "cortesia",
                    "Tratamento cortês e respeitoso ao beneficiário",
                    20,
                ),
                c(
                    "registro",
                    "Registro integral dos dados do atendimento e orientação para participar da pesquisa de satisfação",
                    20,
                ),
                c(
                    "resposta",
                    "Resposta em conformidade com a base de consulta",
                    40,
                ),
                c(
                    "duracao",
                    "Ligação com tempo de duração adequado, sem pressionar o beneficiário nem estender o atendimento além do necessário",
                    20,
                ),
            ],
        }
    }

    pub fn validate(&self) -> Result<(), FormError> {
        if !slug(&self.id, &['-', '_']) {
            return Err(FormError::Id);
        }
        if !(1..=200).contains(&self.title.chars().count()) {
            return Err(FormError::Title);
        }
        if !(1..=20).contains(&self.criteria.len()) {
            return Err(FormError::CriteriaCount);
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.criteria {
            if !slug(&c.key, &['_']) || !seen.insert(c.key.as_str()) {
                return Err(FormError::Key(c.key.clone()));
            }
            if !(1..=200).contains(&c.label.chars().count()) {
                return Err(FormError::Label(c.key.clone()));
            }
            if c.weight == 0 {
                return Err(FormError::Weight(c.key.clone()));
            }
        }
        let sum: u32 = self.criteria.iter().map(|c| c.weight.min(101)).sum();
        if sum != 100 {
            return Err(FormError::WeightSum(sum));
        }
        Ok(())
    }

    /// The call's score in hundredths of a point (0–10 000): Σ weight × grade. Every
    /// criterion must be graded 0–100, and nothing else.
    pub fn score(&self, grades: &BTreeMap<String, u32>) -> Result<u32, FormError> {
        for k in grades.keys() {
            if !self.criteria.iter().any(|c| &c.key == k) {
                return Err(FormError::Unknown(k.clone()));
            }
        }
        let mut total = 0;
        for c in &self.criteria {
            let g = *grades
                .get(&c.key)
                .ok_or_else(|| FormError::Missing(c.key.clone()))?;
            if g > 100 {
                return Err(FormError::Grade(c.key.clone()));
            }
            total += c.weight * g;
        }
        Ok(total)
    }
}
