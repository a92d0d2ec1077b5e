// classify_duckdb.js — the DuckDB peer of `imei classify` for bench/classify_bench.sh: the
// core DIRBS rules of bench/dirbs_core_policy.lua written in SQL over the same dumps, lists
// and TAC database (its CSV), with the same per-device decisions written out as a block list
// (device, reasons). Prints one JSON line of counts, which the bench compares with our
// report's (so both did the same work).
//   node bench/classify_duckdb.js THREADS OUT.csv TACDB.csv LISTS_DIR DUMP.csv...
// Needs `npm install --prefix bench` (@duckdb/node-api).
'use strict';
const { DuckDBInstance } = require('@duckdb/node-api');

const [threads, out, tacdb, lists, ...dumps] = process.argv.slice(2);
if (!dumps.length) {
  console.error('usage: classify_duckdb.js THREADS OUT.csv TACDB.csv LISTS_DIR DUMP.csv...');
  process.exit(2);
}
const q = (s) => "'" + s.replace(/'/g, "''") + "'";
const files = '[' + dumps.map(q).join(', ') + ']';

// The identity forms `imei gen` writes and the core's parser tells apart (TS 23.003 §6.2):
// 14 digits (IMEI without CD), 15 (IMEI), 16 (IMEISV): an IMEI, the device its first 14
// digits; 14 hex with a letter (MEID), 8 hex or 11 digits (ESN), 18 digits (MEID decimal):
// not an IMEI but an identity; anything else is malformed.
const sql = `
-- a row is taken as the core's row parser takes it (core/imei_dump_reader.h): a date in the
-- file's period (its name's _FIRST_LAST), an identity of 1..32 printable characters, an
-- IMSI of 6..15 digits, an E.164 MSISDN or an empty field, a RAT or none; the others are
-- refused (a missing field is NULL, an empty one '').
-- A quoted field cannot span lines there: here no field is read as quoted, and an identity
-- with a quote is refused (the generated dumps quote nothing; a damaged row opens a quote).
CREATE TEMP TABLE rows AS
  SELECT imei, imsi FROM read_csv(${files}, header = true, all_varchar = true, null_padding = true,
    quote = '', escape = '', ignore_errors = true, filename = true, max_line_size = 1048576, nullstr = '\\N',
    columns = {'date': 'VARCHAR', 'imei': 'VARCHAR', 'imsi': 'VARCHAR', 'msisdn': 'VARCHAR', 'rat': 'VARCHAR'})
  WHERE regexp_full_match(imsi, '[0-9]{6,15}') AND regexp_full_match(imei, '[ !#-~]{1,32}')
    AND regexp_full_match(date, '[0-9]{8}') AND try_strptime(date, '%Y%m%d') IS NOT NULL
    AND date BETWEEN regexp_extract(filename, '_([0-9]{8})_[0-9]{8}[.]', 1)
                 AND regexp_extract(filename, '_([0-9]{8})[.][^/]*$', 1)
    AND (msisdn = '' OR regexp_full_match(msisdn, '[+]?[0-9]{3,15}'))
    AND (rat IS NULL OR rat = '' OR upper(rat) IN ('UTRAN', 'GERAN', 'WLAN', 'GAN', 'HSPA', 'EUTRAN', 'VIRTUAL',
      'NB-IOT', 'LTE-M', 'NR', '2G', '3G', '4G', 'LTE', '5G') OR regexp_full_match(rat, '[1-9]|10'));
CREATE TEMP TABLE tacs AS
  SELECT DISTINCT lpad(trim(split_part(line, ',', 1)), 8, '0') AS tac
  FROM read_csv(${q(tacdb)}, columns = {'line': 'VARCHAR'}, header = false, auto_detect = false, delim = '\t',
    quote = '', escape = '', strict_mode = false, ignore_errors = true) WHERE regexp_matches(line, '^ *[0-9]{6,8} *,');
CREATE TEMP TABLE stolen AS
  SELECT DISTINCT substr(imei, 1, 14) AS k FROM read_csv(${q(lists + '/stolen.csv')}, header = true, all_varchar = true);
CREATE TEMP TABLE registered AS
  SELECT DISTINCT substr(approved_imei, 1, 14) AS k
  FROM read_csv(${q(lists + '/registration.csv')}, header = true, all_varchar = true);
-- one row per (identity text, IMSI): the pairs, each with the identity as written
CREATE TEMP TABLE seen AS
  SELECT imei, imsi, regexp_full_match(imei, '[0-9]{14,16}') AS is_imei FROM rows GROUP BY imei, imsi;
CREATE TEMP TABLE pairs AS
  SELECT CASE WHEN is_imei THEN substr(imei, 1, 14) ELSE imei END AS dev, imsi, any_value(is_imei) AS is_imei,
    bool_or(CASE WHEN is_imei AND length(imei) = 15 AND right(imei, 1) <> '0'
      THEN right(imei, 1)::INT <> (10 - list_sum(list_transform(range(1, 15), i -> CASE WHEN i % 2 = 0
        THEN (2 * substr(imei, i, 1)::INT) // 10 + (2 * substr(imei, i, 1)::INT) % 10
        ELSE substr(imei, i, 1)::INT END)) % 10) % 10
      ELSE false END) AS bad_cd,
    bool_or(NOT is_imei AND NOT regexp_full_match(imei,
      '[0-9A-Fa-f]*[A-Fa-f][0-9A-Fa-f]*|[0-9]{18}|[0-9]{11}') ) AS malformed
  FROM seen GROUP BY 1, 2;
CREATE TEMP TABLE devices AS
  SELECT p.dev, p.is_imei, bool_or(p.malformed) AS malformed, bool_or(p.bad_cd) AS bad_cd, count(*) AS imsis
  FROM pairs p GROUP BY p.dev, p.is_imei;
CREATE TEMP TABLE decided AS
  SELECT d.dev, d.imsis, d.malformed AND NOT d.is_imei AS malformed_identifier,
    d.is_imei AND d.bad_cd AS wrong_check_digit,
    d.is_imei AND t.tac IS NULL AS gsma_not_found,
    d.is_imei AND s.k IS NOT NULL AS stolen,
    d.is_imei AND g.k IS NULL AS not_registered,
    d.is_imei AND d.imsis >= 10 AS duplicate_imsis
  FROM devices d
  LEFT JOIN tacs t ON t.tac = substr(d.dev, 1, 8)
  LEFT JOIN stolen s ON s.k = d.dev
  LEFT JOIN registered g ON g.k = d.dev;
COPY (SELECT dev AS imei, concat_ws('|',
    CASE WHEN malformed_identifier THEN 'malformed_identifier' END,
    CASE WHEN wrong_check_digit THEN 'wrong_check_digit' END,
    CASE WHEN gsma_not_found THEN 'gsma_not_found' END, CASE WHEN stolen THEN 'stolen' END,
    CASE WHEN not_registered THEN 'not_registered' END, CASE WHEN duplicate_imsis THEN 'duplicate_imsis' END) AS reasons
  FROM decided
  WHERE malformed_identifier OR wrong_check_digit OR gsma_not_found OR stolen OR not_registered OR duplicate_imsis
  ORDER BY dev) TO ${q(out)} (HEADER, DELIMITER ',');
`;

const counts = `
SELECT (SELECT count(*) FROM rows) AS rows, (SELECT count(*) FROM pairs) AS pairs, count(*) AS devices,
  count(*) FILTER (WHERE malformed_identifier OR wrong_check_digit OR gsma_not_found OR stolen OR not_registered
                   OR duplicate_imsis) AS blocked,
  count(*) FILTER (WHERE malformed_identifier) AS malformed_identifier,
  count(*) FILTER (WHERE wrong_check_digit) AS wrong_check_digit,
  count(*) FILTER (WHERE gsma_not_found) AS gsma_not_found, count(*) FILTER (WHERE stolen) AS stolen,
  count(*) FILTER (WHERE not_registered) AS not_registered, count(*) FILTER (WHERE duplicate_imsis) AS duplicate_imsis
FROM decided`;

(async () => {
  const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const con = await db.connect();
  await con.run(sql);
  const r = await con.runAndReadAll(counts);
  const row = r.getRowObjectsJson()[0];
  for (const k of Object.keys(row)) row[k] = Number(row[k]);
  console.log(JSON.stringify(row));
})().catch((e) => {
  console.error('classify_duckdb:', e.message);
  process.exit(1);
});
