import Link from "next/link";
import { requirePageAuth } from "@/lib/server/pageAuth";
import { JobsList } from "@/components/JobsList";
import { MachinePanel } from "@/components/MachinePanel";

export const dynamic = "force-dynamic";

export default async function Home() {
  await requirePageAuth("/");
  return (
    <>
      <div className="page-head">
        <h1>Jobs</h1>
        <Link className="button primary" href="/jobs/new">New job</Link>
      </div>
      <p className="muted">One job trains at a time; the others wait in the queue. Stopping saves a checkpoint; resuming continues from it.</p>
      <MachinePanel />
      <JobsList />
    </>
  );
}
