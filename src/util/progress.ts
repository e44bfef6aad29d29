/** A one-line progress bar with rate and ETA on stderr (a line per 10% when stderr is not a TTY). */
export class Progress {
  private readonly start = Date.now();
  private lastDecile = -1;
  private lastDraw = 0;

  /** `startCount`: work already done before this run (a resumed run), left out of the rate. */
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'items',
    private readonly startCount = 0,
  ) {}

  update(done: number, extra = ''): void {
    const now = Date.now();
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? (done - this.startCount) / secs : 0;
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const text = `${this.label} ${done}/${this.total} ${this.unit} (${(frac * 100).toFixed(0)}%) ${rate.toFixed(1)}/s ETA ${eta.toFixed(0)}s${extra ? ' ' + extra : ''}`;
    if (process.stderr.isTTY) {
      if (now - this.lastDraw < 100 && done < this.total) return;
      this.lastDraw = now;
      const width = 24,
        filled = Math.round(frac * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
      if (done >= this.total) process.stderr.write('\n');
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== this.lastDecile) {
        this.lastDecile = decile;
        process.stderr.write(text + '\n');
      }
    }
  }
}
