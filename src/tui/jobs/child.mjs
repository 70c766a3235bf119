// A TUI job's process: registers tsx (as bin/unlearnkit.js does), then runs the job (child.ts).
import { register } from 'tsx/esm/api';
register();
await import('./child.ts');
