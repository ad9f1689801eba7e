import { requirePageAuth } from "@/lib/server/pageAuth";
import { settings } from "@/lib/server/settings";
import { DatasetsList } from "@/components/DatasetsList";

export const dynamic = "force-dynamic";

export default async function DatasetsPage() {
  await requirePageAuth("/datasets");
  return (
    <>
      <div className="page-head"><h1>Datasets</h1></div>
      <p className="muted">Folders under <code>{settings().datasetsRoot}</code> (<code>LTX2_DATASETS_ROOT</code>). Each clip or image
        trains with the caption in the <code>.txt</code> file of the same name; clips should carry the character&apos;s voice.</p>
      <DatasetsList />
    </>
  );
}
