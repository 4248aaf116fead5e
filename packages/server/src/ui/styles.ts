/**
 * The one stylesheet of the Person Server's pages, inlined in a `<style>` element and allowed by its SHA-256
 * in the Content-Security-Policy (`style-src 'sha256-…'`): no external assets, no `unsafe-inline`.
 */
import { createHash } from 'node:crypto';

export const STYLES = `
:root{--bg:#f4f5f7;--card:#fff;--text:#1b1f24;--muted:#59616d;--line:#dde1e6;--accent:#3346c8;--accent-text:#fff;
--accent-soft:#eef0fc;--danger:#b42318;--danger-soft:#fdf0ee;--ok:#127a43;--ok-soft:#e9f7ef;--focus:#7d8cf0;--radius:12px;
color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#111317;--card:#1b1e24;--text:#eceef1;--muted:#a3abb7;--line:#2e333b;
--accent:#8d9bff;--accent-text:#0d1030;--accent-soft:#22264a;--danger:#ff8a7a;--danger-soft:#3a1f1c;--ok:#6fd6a0;--ok-soft:#173224;--focus:#b3bcff}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
a{color:var(--accent)}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:var(--card);padding:.5rem;z-index:2}
.top{display:flex;align-items:center;justify-content:space-between;gap:1rem;max-width:52rem;margin:0 auto;padding:1.25rem 1rem}
.brand{display:flex;align-items:center;gap:.6rem;color:var(--text);text-decoration:none;font-weight:700;letter-spacing:.01em}
.mark{display:grid;grid-template-columns:repeat(2,9px);gap:3px}
.mark i{display:block;width:9px;height:9px;border-radius:2px;background:var(--accent)}
.mark i:nth-child(2),.mark i:nth-child(3){opacity:.55}
.brand small{display:block;font-weight:500;color:var(--muted);font-size:.8rem;letter-spacing:0}
.who{display:flex;align-items:center;gap:.75rem;color:var(--muted);font-size:.9rem}
main{max-width:52rem;margin:0 auto;padding:0 1rem 3rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:2rem;margin:1.5rem auto;max-width:32rem;
box-shadow:0 1px 2px rgba(16,24,40,.05),0 8px 24px rgba(16,24,40,.06)}
.card.wide{max-width:48rem}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 .5rem}
h2{font-size:1.05rem;margin:1.75rem 0 .75rem}
p{margin:.5rem 0}
.lead{color:var(--muted);margin-bottom:1.5rem}
.muted{color:var(--muted)}
.small{font-size:.875rem}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875em;overflow-wrap:anywhere}
label{display:block;font-weight:600;margin:1rem 0 .35rem}
input[type=text],input[type=password]{width:100%;padding:.7rem .8rem;font:inherit;color:var(--text);background:var(--card);
border:1px solid var(--line);border-radius:8px}
input.code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:1.4rem;letter-spacing:.15em;text-transform:uppercase;text-align:center}
.btn{display:inline-flex;align-items:center;justify-content:center;gap:.4rem;padding:.7rem 1.1rem;min-height:44px;font:inherit;font-weight:600;
border-radius:8px;border:1px solid var(--line);background:var(--card);color:var(--text);cursor:pointer;text-decoration:none}
.btn.primary{background:var(--accent);border-color:var(--accent);color:var(--accent-text)}
.btn.danger{color:var(--danger);border-color:var(--danger)}
.btn.link{border:0;background:none;padding:.25rem .4rem;min-height:0;color:var(--accent);font-weight:500}
.btn:hover{filter:brightness(.96)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:1.5rem}
.actions .btn{flex:1 1 10rem}
.stack .btn{width:100%;margin-top:1.25rem}
.alert{border-radius:8px;padding:.75rem 1rem;margin:1rem 0;background:var(--danger-soft);color:var(--danger);border:1px solid currentColor}
.alert.ok{background:var(--ok-soft);color:var(--ok)}
.party{display:flex;gap:1rem;align-items:center;padding:1rem;border:1px solid var(--line);border-radius:10px;margin:.75rem 0}
.party img,.avatar{width:48px;height:48px;border-radius:10px;flex:none;object-fit:contain;background:var(--accent-soft)}
.avatar{display:grid;place-items:center;font-weight:700;color:var(--accent);font-size:1.25rem}
.party .label{font-size:.75rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);font-weight:600}
.party .name{font-weight:700}
.party .id{color:var(--muted);font-size:.85rem;overflow-wrap:anywhere}
.scopes{list-style:none;padding:0;margin:.5rem 0}
.scopes li{padding:.65rem .8rem;border:1px solid var(--line);border-radius:8px;margin:.5rem 0}
.scopes code{display:inline-block;background:var(--accent-soft);color:var(--accent);padding:.05rem .4rem;border-radius:5px;margin-right:.4rem}
.quote{border-left:3px solid var(--accent);background:var(--accent-soft);padding:.6rem .9rem;border-radius:0 8px 8px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.md{overflow-wrap:anywhere}.md ul{padding-left:1.25rem}
table{width:100%;border-collapse:collapse;font-size:.925rem}
th,td{text-align:left;padding:.6rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.75rem;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
td form{margin:0}
.token{display:block;padding:.75rem;border:1px dashed var(--accent);border-radius:8px;background:var(--accent-soft);user-select:all}
.inline{display:flex;gap:.5rem;align-items:flex-end;flex-wrap:wrap}.inline label{margin-top:0}.inline div{flex:1 1 12rem}
.empty{color:var(--muted);font-style:italic}
footer{max-width:52rem;margin:0 auto;padding:1rem;color:var(--muted);font-size:.8rem;text-align:center}
@media (max-width:560px){.card{padding:1.25rem;border-radius:10px}.top{padding:1rem .75rem;flex-wrap:wrap}.who{font-size:.8rem}h1{font-size:1.3rem}
th:nth-child(3),td:nth-child(3){display:none}}
`.trim();

/** `'sha256-…'` of {@link STYLES}, for `style-src`. */
export const STYLES_CSP_HASH = `'sha256-${createHash('sha256').update(STYLES).digest('base64')}'`;
