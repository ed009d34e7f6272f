// Finds the statements in a migration file that would end or open a transaction of their own
// (BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, ABORT, PREPARE TRANSACTION). The migrator
// runs each file inside ONE transaction with its schema_migrations row; a COMMIT in the file
// would make the part before it permanent while the part after it could still fail, and the
// file would then be neither applied nor rolled back. SAVEPOINT, RELEASE and ROLLBACK TO stay
// inside the transaction and are allowed.
//
// A small lexer, not a parser: comments (-- and nested /* */), string literals ('...', E'...'),
// quoted identifiers and dollar-quoted bodies ($$...$$, $tag$...$tag$, where PL/pgSQL's own
// BEGIN ... END live) are skipped; statements end at semicolons outside them and outside
// SQL-standard function bodies (BEGIN ATOMIC ... END).

export interface TransactionControl {
  line: number; // 1-based line of the statement's first word
  statement: string; // e.g. "COMMIT", "START TRANSACTION", "ROLLBACK"
}

const ENDS_OR_OPENS = new Set(["BEGIN", "COMMIT", "END", "ROLLBACK", "ABORT"]);
const WORD = /[A-Za-z_][A-Za-z0-9_$]*/y;
const DOLLAR_TAG = /\$([A-Za-z_][A-Za-z0-9_]*)?\$/y;

interface Word {
  text: string; // upper case
  line: number;
}

/** The words of each top-level statement, literals and comments left out. */
export function statements(sql: string): Word[][] {
  const out: Word[][] = [];
  let words: Word[] = [];
  let line = 1;
  let atomic = 0; // depth inside BEGIN ATOMIC ... END (CASE ... END nests inside it)
  let i = 0;
  const skipTo = (end: number) => {
    for (let k = i; k < end && k < sql.length; k++) if (sql[k] === "\n") line++;
    i = Math.min(end, sql.length);
  };
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === "-" && next === "-") {
      const end = sql.indexOf("\n", i);
      skipTo(end < 0 ? sql.length : end);
    } else if (c === "/" && next === "*") {
      let depth = 0;
      let k = i;
      while (k < sql.length) {
        if (sql[k] === "/" && sql[k + 1] === "*") {
          depth++;
          k += 2;
        } else if (sql[k] === "*" && sql[k + 1] === "/") {
          depth--;
          k += 2;
          if (depth === 0) break;
        } else k++;
      }
      skipTo(k);
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && /[Ee]/.test(sql[i - 1] ?? "") && !/[A-Za-z0-9_$]/.test(sql[i - 2] ?? "");
      let k = i + 1;
      while (k < sql.length) {
        if (escapes && sql[k] === "\\") k += 2;
        else if (sql[k] === c && sql[k + 1] === c) k += 2;
        else if (sql[k] === c) break;
        else k++;
      }
      skipTo(k + 1);
    } else if (c === "$" && !/[A-Za-z0-9_$]/.test(sql[i - 1] ?? "")) {
      DOLLAR_TAG.lastIndex = i;
      const tag = DOLLAR_TAG.exec(sql);
      if (tag) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        skipTo(close < 0 ? sql.length : close + tag[0].length);
      } else i++;
    } else if (c === ";" && atomic === 0) {
      if (words.length) out.push(words);
      words = [];
      i++;
    } else if (/[A-Za-z_]/.test(c) && !/[A-Za-z0-9_$]/.test(sql[i - 1] ?? "")) {
      WORD.lastIndex = i;
      const text = (WORD.exec(sql) as RegExpExecArray)[0];
      const upper = text.toUpperCase();
      const previous = words[words.length - 1]?.text;
      if (upper === "ATOMIC" && previous === "BEGIN" && words.length > 1) atomic++;
      else if (upper === "CASE" && atomic > 0) atomic++;
      else if (upper === "END" && atomic > 0) atomic--;
      words.push({ text: upper, line });
      i += text.length;
    } else {
      if (c === "\n") line++;
      i++;
    }
  }
  if (words.length) out.push(words);
  return out;
}

/** The first statement that would end or open a transaction, or null. */
export function transactionControl(sql: string): TransactionControl | null {
  for (const words of statements(sql)) {
    const [first, second] = [words[0].text, words[1]?.text];
    if (first === "ROLLBACK" && second === "TO") continue; // stays inside the transaction
    if (ENDS_OR_OPENS.has(first)) {
      const statement = first === "COMMIT" && second === "PREPARED" ? "COMMIT PREPARED" : first;
      return { line: words[0].line, statement };
    }
    if ((first === "START" || first === "PREPARE") && second === "TRANSACTION") {
      return { line: words[0].line, statement: `${first} TRANSACTION` };
    }
  }
  return null;
}
