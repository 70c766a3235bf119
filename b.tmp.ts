import { runServeBench, printServeBench } from './src/commands/benchServe.ts';
const r = await runServeBench({ quick: process.argv.includes('--quick') });
printServeBench(r);
console.log(JSON.stringify(r, null, 2));
