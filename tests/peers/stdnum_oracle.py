#!/usr/bin/python3
"""stdnum_oracle.py — python-stdnum's verdict on identifiers, one per input line.

Reads stdin as bytes, one identifier per line (split on LF only; every other byte, CR
and NUL included, is part of the value; UTF-8 decoded, undecodable bytes kept as
surrogates). For each line prints one tab-separated line:

    imei_valid  imei_type  imei_compact  meid_valid  meid_hex  meid_pesn

  imei_valid    1/0, stdnum.imei.is_valid
  imei_type     IMEI, IMEISV or - (stdnum.imei.imei_type)
  imei_compact  stdnum.imei.compact, or - when it raises (non-printable bytes are
                written as \\xNN so that the output stays one line per input)
  meid_valid    1/0, stdnum.meid.is_valid
  meid_hex      stdnum.meid.compact (14 hex digits) when valid, else -
  meid_pesn     stdnum.meid.to_pseudo_esn when valid, else -

Exits 3 with a message when python3-stdnum is not installed (run `make deps`).
"""
import sys

try:
    from stdnum import imei, meid
except ImportError:
    sys.stderr.write("python3-stdnum is not installed: run `make deps`\n")
    sys.exit(3)


def printable(s):
    return ''.join(c if ' ' <= c <= '~' else '\\x%02X' % (ord(c) & 0xFF) for c in s)


def verdict(value):
    valid = imei.is_valid(value)
    kind = imei.imei_type(value) or '-'
    try:
        compact = printable(imei.compact(value))
    except Exception:  # noqa: B902 - stdnum raises ValidationError or others on odd input
        compact = '-'
    if meid.is_valid(value):
        meid_valid, hexform, pesn = '1', meid.compact(value), meid.to_pseudo_esn(value)
    else:
        meid_valid, hexform, pesn = '0', '-', '-'
    return '%d\t%s\t%s\t%s\t%s\t%s' % (valid, kind, compact or '-', meid_valid, hexform, pesn)


def main():
    data = sys.stdin.buffer.read()
    lines = data.split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()
    out = []
    for raw in lines:
        out.append(verdict(raw.decode('utf-8', 'surrogateescape')))
    sys.stdout.write('\n'.join(out) + ('\n' if out else ''))


if __name__ == '__main__':
    main()
