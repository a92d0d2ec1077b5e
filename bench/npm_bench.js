// npm_bench.js FILE — time npm peers over the IMEIs in FILE (one per line), best of 5:
// fast-luhn (a Luhn check) and validator's isIMEI. Optional: needs node and
// `npm install --prefix bench` (bench/package.json); prints "NAME rate_mps=R valid=N".
'use strict';
const fs = require('fs');
const path = require('path');
const imeis = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter((s) => s.length > 0);
const modules = path.join(__dirname, 'node_modules');

function bench(name, fn) {
  let best = Infinity;
  let valid = 0;
  for (let pass = 0; pass < 5; pass++) {
    const t0 = process.cpuUsage(); // CPU time, like the other figures
    valid = 0;
    for (let i = 0; i < imeis.length; i++) if (fn(imeis[i])) valid++;
    const used = process.cpuUsage(t0);
    const dt = (used.user + used.system) / 1e6;
    if (dt < best) best = dt;
  }
  console.log(`${name} rate_mps=${(imeis.length / best / 1e6).toFixed(3)} valid=${valid}`);
}

let any = false;
try {
  const luhn = require(path.join(modules, 'fast-luhn'));
  bench('fast-luhn', (s) => s.length === 15 && luhn(s));
  any = true;
} catch (e) {
  console.log(`fast-luhn not installed (npm install --prefix bench): ${e.code || e.message}`);
}
try {
  const isIMEI = require(path.join(modules, 'validator', 'lib', 'isIMEI'));
  bench('validator', (s) => (isIMEI.default || isIMEI)(s));
  any = true;
} catch (e) {
  console.log(`validator not installed (npm install --prefix bench): ${e.code || e.message}`);
}
process.exit(any ? 0 : 1);
