/** An error with the HTTP status the API should answer with (409 busy, 404 missing...). */
export class JobError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
    this.name = "JobError";
  }
}
