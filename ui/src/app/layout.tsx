import type { Metadata } from "next";
import Link from "next/link";
import { settings } from "@/lib/server/settings";
import { LogoutButton } from "@/components/LogoutButton";
import "./globals.css";

export const metadata: Metadata = {
  title: "LTX-2 Character LoRA Trainer",
  description: "Train LTX-2 character LoRAs that keep the character's voice",
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  const auth = Boolean(settings().authToken);
  return (
    <html lang="en">
      <body>
        <header className="topbar">
          <Link href="/" className="brand">LTX-2 <span>character LoRA trainer</span></Link>
          <nav>
            <Link href="/">Jobs</Link>
            <Link href="/jobs/new">New job</Link>
            <Link href="/datasets">Datasets</Link>
            {auth && <LogoutButton />}
          </nav>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
