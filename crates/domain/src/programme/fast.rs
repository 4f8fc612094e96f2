//! The rules of a programme evaluated straight over a household's facts,
//! for the common case: a targeting run decides millions of households,
//! and the general interpreter spends most of its time resolving names
//! and boxing values rather than comparing them.
//!
//! A rule is translated once, with its parameters folded in, from the
//! interpreter's own parse. Only the forms the shipped programmes use are
//! translated (literals, fields, `has`, `.?field.orValue()`, logic,
//! comparison, arithmetic, `in`, `size`, the comprehension macros); a rule
//! with anything else is left to the interpreter. At run time, anything
//! that would be an error — a missing field read without `has`, a type
//! mismatch, an overflow — gives up, and the caller evaluates the unit
//! again with the interpreter, which gives the answer or the error
//! message. So the two can differ only in speed, which the tests check on
//! random households for every shipped programme.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue, operators};

use super::Param;
use super::facts::{HouseholdFacts, MemberFacts, Reads, household_value, json_of, member_value};
use crate::attributes::{AttrValue, AttributeLookup};
use crate::person::PersonId;

/// A rule translated for direct evaluation.
#[derive(Debug)]
pub(super) struct Node(Op);

#[derive(Debug)]
enum Op {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(Box<str>),
    List(Vec<Op>),
    Household,
    Person,
    M,
    /// A comprehension's variable, by its depth.
    Slot(usize),
    Select(Box<Op>, Box<str>),
    Has(Box<Op>, Box<str>),
    /// `operand.?field.orValue(default)`.
    OrValue(Box<Op>, Box<str>, Box<Op>),
    Not(Box<Op>),
    Neg(Box<Op>),
    And(Box<Op>, Box<Op>),
    Or(Box<Op>, Box<Op>),
    Cond(Box<Op>, Box<Op>, Box<Op>),
    Cmp(Cmp, Box<Op>, Box<Op>),
    Arith(Arith, Box<Op>, Box<Op>),
    In(Box<Op>, Box<Op>),
    Size(Box<Op>),
    NotStrictlyFalse(Box<Op>),
    Fold(Box<Fold>),
}

#[derive(Debug)]
struct Fold {
    range: Op,
    /// The accumulator's slot; the item's is the next.
    accu: usize,
    init: Op,
    cond: Op,
    step: Op,
    result: Op,
}

#[derive(Clone, Copy, Debug)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl Node {
    /// The rule `e` with `params` folded in; `None` when it uses a form
    /// this evaluator leaves to the interpreter.
    pub(super) fn translate(e: &IdedExpr, params: &BTreeMap<String, Param>) -> Option<Node> {
        Translator {
            params,
            scope: Vec::new(),
        }
        .op(e)
        .map(Node)
    }
}

struct Translator<'p> {
    params: &'p BTreeMap<String, Param>,
    /// Comprehension variables in scope, outermost first.
    scope: Vec<String>,
}

impl Translator<'_> {
    fn bound(&self, name: &str) -> Option<usize> {
        self.scope.iter().rposition(|s| s == name)
    }

    fn boxed(&mut self, e: &IdedExpr) -> Option<Box<Op>> {
        self.op(e).map(Box::new)
    }

    fn op(&mut self, e: &IdedExpr) -> Option<Op> {
        Some(match &e.expr {
            Expr::Literal(l) => match l {
                LiteralValue::Boolean(b) => Op::Bool(*b.inner()),
                LiteralValue::Int(i) => Op::Int(*i.inner()),
                LiteralValue::UInt(u) => Op::UInt(*u.inner()),
                LiteralValue::Double(d) => Op::Double(*d.inner()),
                LiteralValue::String(s) => Op::Str(s.inner().into()),
                LiteralValue::Null => Op::Null,
                LiteralValue::Bytes(_) => return None,
            },
            Expr::Ident(name) => match (self.bound(name), name.as_str()) {
                (Some(slot), _) => Op::Slot(slot),
                (None, "household") => Op::Household,
                (None, "person") => Op::Person,
                (None, "m") => Op::M,
                _ => return None,
            },
            Expr::Select(s) => {
                if let Expr::Ident(name) = &s.operand.expr
                    && name == "params"
                    && self.bound(name).is_none()
                {
                    if s.test {
                        return None;
                    }
                    return match self.params.get(&s.field)? {
                        Param::Int(i) => Some(Op::Int(*i)),
                        Param::Float(f) => Some(Op::Double(*f)),
                    };
                }
                let operand = self.boxed(&s.operand)?;
                if s.test {
                    Op::Has(operand, s.field.as_str().into())
                } else {
                    Op::Select(operand, s.field.as_str().into())
                }
            }
            Expr::List(l) if l.optional_indices.is_empty() => {
                Op::List(l.elements.iter().map(|e| self.op(e)).collect::<Option<_>>()?)
            }
            Expr::Call(call) => self.call(call)?,
            Expr::Comprehension(c) if c.iter_var2.is_none() => {
                let range = self.op(&c.iter_range)?;
                let init = self.op(&c.accu_init)?;
                let accu = self.scope.len();
                self.scope.push(c.accu_var.clone());
                self.scope.push(c.iter_var.clone());
                let body = (|| Some((self.op(&c.loop_cond)?, self.op(&c.loop_step)?, self.op(&c.result)?)))();
                self.scope.truncate(accu);
                let (cond, step, result) = body?;
                Op::Fold(Box::new(Fold {
                    range,
                    accu,
                    init,
                    cond,
                    step,
                    result,
                }))
            }
            _ => return None,
        })
    }

    fn call(&mut self, call: &CallExpr) -> Option<Op> {
        let args = &call.args;
        if let Some(target) = &call.target {
            return match (call.func_name.as_str(), &target.expr, args.as_slice()) {
                ("orValue", Expr::Call(inner), [default])
                    if inner.func_name == operators::OPT_SELECT && inner.target.is_none() =>
                {
                    let [operand, field] = inner.args.as_slice() else {
                        return None;
                    };
                    let Expr::Literal(LiteralValue::String(field)) = &field.expr else {
                        return None;
                    };
                    // `a.?b.?c` chains optionals: left to the interpreter.
                    if matches!(&operand.expr, Expr::Call(c) if c.func_name == operators::OPT_SELECT) {
                        return None;
                    }
                    Some(Op::OrValue(
                        self.boxed(operand)?,
                        field.inner().into(),
                        self.boxed(default)?,
                    ))
                }
                // `list.size()` is not defined on the household's lists: left to the interpreter.
                _ => None,
            };
        }
        let two = |t: &mut Self| -> Option<(Box<Op>, Box<Op>)> {
            match args.as_slice() {
                [a, b] => Some((t.boxed(a)?, t.boxed(b)?)),
                _ => None,
            }
        };
        let cmp = |t: &mut Self, c: Cmp| two(t).map(|(a, b)| Op::Cmp(c, a, b));
        let arith = |t: &mut Self, a: Arith| two(t).map(|(x, y)| Op::Arith(a, x, y));
        match (call.func_name.as_str(), args.as_slice()) {
            (operators::LOGICAL_AND, _) => two(self).map(|(a, b)| Op::And(a, b)),
            (operators::LOGICAL_OR, _) => two(self).map(|(a, b)| Op::Or(a, b)),
            (operators::LOGICAL_NOT, [a]) => Some(Op::Not(self.boxed(a)?)),
            (operators::NEGATE, [a]) => Some(Op::Neg(self.boxed(a)?)),
            (operators::NOT_STRICTLY_FALSE, [a]) => Some(Op::NotStrictlyFalse(self.boxed(a)?)),
            ("size", [a]) => Some(Op::Size(self.boxed(a)?)),
            (operators::CONDITIONAL, [c, a, b]) => Some(Op::Cond(self.boxed(c)?, self.boxed(a)?, self.boxed(b)?)),
            (operators::EQUALS, _) => cmp(self, Cmp::Eq),
            (operators::NOT_EQUALS, _) => cmp(self, Cmp::Ne),
            (operators::LESS, _) => cmp(self, Cmp::Lt),
            (operators::LESS_EQUALS, _) => cmp(self, Cmp::Le),
            (operators::GREATER, _) => cmp(self, Cmp::Gt),
            (operators::GREATER_EQUALS, _) => cmp(self, Cmp::Ge),
            (operators::ADD, _) => arith(self, Arith::Add),
            (operators::SUBSTRACT, _) => arith(self, Arith::Sub),
            (operators::MULTIPLY, _) => arith(self, Arith::Mul),
            (operators::DIVIDE, _) => arith(self, Arith::Div),
            (operators::MODULO, _) => arith(self, Arith::Rem),
            (operators::IN, _) => two(self).map(|(a, b)| Op::In(a, b)),
            _ => None,
        }
    }
}

/// A value met while evaluating; records are referred to, not copied.
#[derive(Clone, Debug)]
enum V<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(&'a str),
    PersonId(PersonId),
    Household,
    Attributes,
    Members,
    Member(usize),
    Strings(&'a [String]),
    Codes(&'a [&'static str]),
    List(Vec<V<'a>>),
}

/// One unit being decided: the household, the person (for rules about
/// people), the member the recipient rule is asked about, and the
/// comprehension variables.
pub(super) struct Unit<'a> {
    facts: &'a HouseholdFacts,
    household_id: &'a str,
    person: Option<usize>,
    m: Option<usize>,
    slots: Vec<V<'a>>,
    /// Where the values read are noted, as the interpreter's recording view notes them.
    reads: Option<&'a Reads>,
}

impl<'a> Unit<'a> {
    pub(super) fn new(facts: &'a HouseholdFacts, household_id: &'a str, person: Option<usize>) -> Unit<'a> {
        Unit {
            facts,
            household_id,
            person,
            m: None,
            slots: Vec::new(),
            reads: None,
        }
    }

    /// A unit that notes in `reads` every value read, by the same paths as
    /// [`super::HouseholdView::recording`].
    pub(super) fn recording(
        facts: &'a HouseholdFacts,
        household_id: &'a str,
        person: Option<usize>,
        reads: &'a Reads,
    ) -> Unit<'a> {
        reads.record("household.size".into(), facts.members.len().into());
        Unit {
            reads: Some(reads),
            ..Unit::new(facts, household_id, person)
        }
    }

    /// The rule's truth; `None` to ask the interpreter.
    pub(super) fn holds(&mut self, rule: &'a Node) -> Option<bool> {
        self.slots.clear();
        match self.eval(&rule.0)? {
            V::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The first member (head first) for whom the recipient rule holds;
    /// `None` to ask the interpreter.
    pub(super) fn recipient(&mut self, rule: &'a Node) -> Option<Option<usize>> {
        let mut found = None;
        for i in 0..self.facts.members.len() {
            self.m = Some(i);
            if self.holds(rule)? {
                found = Some(i);
                break;
            }
        }
        self.m = None;
        Some(found)
    }

    /// The rule's whole non-negative amount; `None` to ask the interpreter.
    pub(super) fn amount(&mut self, rule: &'a Node) -> Option<i64> {
        self.slots.clear();
        match self.eval(&rule.0)? {
            V::Int(n) if n >= 0 => Some(n),
            V::UInt(n) => i64::try_from(n).ok(),
            _ => None,
        }
    }

    fn member(&self, i: usize) -> Option<&'a MemberFacts> {
        self.facts.members.get(i)
    }

    fn eval(&mut self, op: &'a Op) -> Option<V<'a>> {
        Some(match op {
            Op::Null => V::Null,
            Op::Bool(b) => V::Bool(*b),
            Op::Int(i) => V::Int(*i),
            Op::UInt(u) => V::UInt(*u),
            Op::Double(d) => V::Double(*d),
            Op::Str(s) => V::Str(s),
            Op::List(items) => V::List(items.iter().map(|i| self.eval(i)).collect::<Option<_>>()?),
            Op::Household => V::Household,
            Op::Person => V::Member(self.person.filter(|&p| p < self.facts.members.len())?),
            Op::M => V::Member(self.m.filter(|&m| m < self.facts.members.len())?),
            Op::Slot(s) => self.slots.get(*s)?.clone(),
            Op::Select(operand, field) => {
                let v = self.eval(operand)?;
                self.field(&v, field).ok()??
            }
            Op::Has(operand, field) => {
                let v = self.eval(operand)?;
                V::Bool(self.field(&v, field).ok()?.is_some())
            }
            Op::OrValue(operand, field, default) => {
                let v = self.eval(operand)?;
                match self.field(&v, field).ok()? {
                    Some(found) => found,
                    None => self.eval(default)?,
                }
            }
            Op::Not(a) => V::Bool(!self.bool(a)?),
            Op::Neg(a) => match self.eval(a)? {
                V::Int(i) => V::Int(i.checked_neg()?),
                V::Double(d) => V::Double(-d),
                _ => return None,
            },
            Op::NotStrictlyFalse(a) => V::Bool(self.bool(a)?),
            Op::And(a, b) => V::Bool(self.bool(a)? && self.bool(b)?),
            Op::Or(a, b) => V::Bool(self.bool(a)? || self.bool(b)?),
            Op::Cond(c, a, b) => {
                if self.bool(c)? {
                    self.eval(a)?
                } else {
                    self.eval(b)?
                }
            }
            Op::Cmp(c, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                V::Bool(compare(*c, &a, &b)?)
            }
            Op::Arith(o, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                arith(*o, a, b)?
            }
            Op::In(item, list) => {
                let item = self.eval(item)?;
                let V::Str(item) = item else { return None };
                // A literal list is searched without being built.
                if let Op::List(items) = &**list {
                    for i in items {
                        match self.eval(i)? {
                            V::Str(s) if s == item => return Some(V::Bool(true)),
                            V::Str(_) => {}
                            _ => return None,
                        }
                    }
                    return Some(V::Bool(false));
                }
                match self.eval(list)? {
                    V::Strings(l) => V::Bool(l.iter().any(|s| s == item)),
                    V::Codes(l) => V::Bool(l.contains(&item)),
                    V::List(l) => {
                        let mut found = false;
                        for v in l {
                            match v {
                                V::Str(s) => found |= s == item,
                                _ => return None,
                            }
                        }
                        V::Bool(found)
                    }
                    _ => return None,
                }
            }
            // The interpreter has no size of the members' list (`household.size` is it).
            Op::Size(a) => V::Int(match self.eval(a)? {
                V::Strings(l) => l.len(),
                V::Codes(l) => l.len(),
                V::List(l) => l.len(),
                _ => return None,
            } as i64),
            Op::Fold(f) => {
                let range = self.eval(&f.range)?;
                let init = self.eval(&f.init)?;
                let len = match &range {
                    V::Members => self.facts.members.len(),
                    V::Strings(l) => l.len(),
                    V::Codes(l) => l.len(),
                    V::List(l) => l.len(),
                    _ => return None,
                };
                // A comprehension starts with its enclosing ones' variables
                // alone in place; anything else is the interpreter's to answer.
                if self.slots.len() != f.accu {
                    return None;
                }
                self.slots.push(init);
                self.slots.push(V::Null);
                for k in 0..len {
                    let item = match &range {
                        V::Members => V::Member(k),
                        V::Strings(l) => V::Str(&l[k]),
                        V::Codes(l) => V::Str(l[k]),
                        V::List(l) => l[k].clone(),
                        _ => return None,
                    };
                    *self.slots.get_mut(f.accu + 1)? = item;
                    if !self.bool(&f.cond)? {
                        break;
                    }
                    let next = self.eval(&f.step)?;
                    *self.slots.get_mut(f.accu)? = next;
                }
                let result = self.eval(&f.result)?;
                self.slots.truncate(f.accu);
                result
            }
        })
    }

    fn bool(&mut self, op: &'a Op) -> Option<bool> {
        match self.eval(op)? {
            V::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// A record's field: `Ok(None)` when the record has no such value (what
    /// `has` tests), `Err` when the value is not a record.
    fn field(&self, v: &V<'a>, field: &str) -> Result<Option<V<'a>>, ()> {
        let h = self.facts;
        if let Some(reads) = self.reads {
            self.note(reads, v, field);
        }
        Ok(match v {
            V::Household => match field {
                "id" => Some(V::Str(self.household_id)),
                "area" => Some(V::Str(&h.area)),
                "areas" => Some(V::Strings(&h.areas)),
                "pmt_score" => h.pmt_score.map(V::Double),
                "size" => Some(V::Int(h.members.len() as i64)),
                "attributes" => Some(V::Attributes),
                "members" => Some(V::Members),
                "enrolments" => Some(V::Strings(&h.enrolments)),
                _ => None,
            },
            V::Attributes => h.attributes.value(field).map(|a| match a {
                AttrValue::Bool(b) => V::Bool(b),
                AttrValue::Int(i) => V::Int(i),
                AttrValue::Float(x) => V::Double(x),
                AttrValue::Text(t) => V::Str(t),
            }),
            V::Member(i) => {
                let m = self.member(*i).ok_or(())?;
                match field {
                    "id" => Some(V::PersonId(m.id)),
                    "sex" => Some(V::Str(m.sex.code())),
                    "age" => m.age.map(|a| V::Int(i64::from(a))),
                    "relationship" => Some(V::Str(m.relationship.code())),
                    "marital_status" => m.marital_status.map(|s| V::Str(s.code())),
                    "maternal_status" => m.maternal_status.map(|s| V::Str(s.code())),
                    "disability" => Some(V::Bool(m.disability)),
                    "school_level" => m.school_level.map(|s| V::Str(s.code())),
                    "identifier_types" => Some(V::Codes(&m.identifier_types)),
                    "enrolments" => Some(V::Strings(&m.enrolments)),
                    "attendance" => m.attendance.map(V::Double),
                    "health_visits" => m.health_visits.map(V::Int),
                    _ => None,
                }
            }
            _ => return Err(()),
        })
    }
}

impl Unit<'_> {
    /// Notes a read by the recording view's own functions (`facts.rs`).
    fn note(&self, reads: &Reads, v: &V<'_>, field: &str) {
        let h = self.facts;
        match v {
            V::Household => {
                if let Some(value) = household_value(h, field) {
                    reads.record(format!("household.{field}"), value);
                }
            }
            V::Attributes => reads.record(
                format!("household.attributes.{field}"),
                h.attributes.value(field).map_or(serde_json::Value::Null, json_of),
            ),
            V::Member(i) => {
                if let Some(m) = self.member(*i) {
                    reads.record(format!("household.members[{i}].{field}"), member_value(m, field));
                }
            }
            _ => {}
        }
    }
}

/// CEL's ordering of two numbers, or two strings; `None` for what the
/// interpreter would refuse (or that is not worth the care here).
fn ordering(a: &V<'_>, b: &V<'_>) -> Option<Option<Ordering>> {
    Some(match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        (V::UInt(x), V::UInt(y)) => Some(x.cmp(y)),
        (V::Double(x), V::Double(y)) => x.partial_cmp(y),
        (V::Int(x), V::Double(y)) => (*x as f64).partial_cmp(y),
        (V::Double(x), V::Int(y)) => x.partial_cmp(&(*y as f64)),
        (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        _ => return None,
    })
}

fn compare(c: Cmp, a: &V<'_>, b: &V<'_>) -> Option<bool> {
    let equal = |a: &V<'_>, b: &V<'_>| -> Option<bool> {
        Some(match (a, b) {
            (V::Bool(x), V::Bool(y)) => x == y,
            (V::Null, V::Null) => true,
            (V::PersonId(x), V::PersonId(y)) => x == y,
            // Numbers that cannot be ordered (NaN) are not equal.
            _ => ordering(a, b)? == Some(Ordering::Equal),
        })
    };
    match c {
        Cmp::Eq => equal(a, b),
        Cmp::Ne => equal(a, b).map(|e| !e),
        _ => {
            let o = ordering(a, b)??;
            Some(match c {
                Cmp::Lt => o == Ordering::Less,
                Cmp::Le => o != Ordering::Greater,
                Cmp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })
        }
    }
}

fn arith<'a>(o: Arith, a: V<'a>, b: V<'a>) -> Option<V<'a>> {
    Some(match (a, b) {
        (V::Int(x), V::Int(y)) => V::Int(match o {
            Arith::Add => x.checked_add(y)?,
            Arith::Sub => x.checked_sub(y)?,
            Arith::Mul => x.checked_mul(y)?,
            Arith::Div => x.checked_div(y)?,
            Arith::Rem => x.checked_rem(y)?,
        }),
        (V::UInt(x), V::UInt(y)) => V::UInt(match o {
            Arith::Add => x.checked_add(y)?,
            Arith::Sub => x.checked_sub(y)?,
            Arith::Mul => x.checked_mul(y)?,
            Arith::Div => x.checked_div(y)?,
            Arith::Rem => x.checked_rem(y)?,
        }),
        // Division by zero and remainders of doubles are the interpreter's to answer.
        (V::Double(x), V::Double(y)) => V::Double(match o {
            Arith::Add => x + y,
            Arith::Sub => x - y,
            Arith::Mul => x * y,
            Arith::Div if y != 0.0 => x / y,
            _ => return None,
        }),
        (V::List(mut x), V::List(y)) if matches!(o, Arith::Add) => {
            x.extend(y);
            V::List(x)
        }
        _ => return None,
    })
}
