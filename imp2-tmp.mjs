const mods = process.argv.slice(2); process.argv.length = 2;
const fs = await import('node:fs');
const st = () => Object.fromEntries(fs.readFileSync('/proc/self/status','utf8').split('\n').filter(l=>/^(VmRSS|RssAnon|RssFile)/.test(l)).map(l=>{const [k,v]=l.split(':');return [k,(parseInt(v)/1024).toFixed(1)]}));
console.log('start', JSON.stringify(st()));
for (const m of mods) { await import(m); console.log(m.replace(/.*dist\/src\//,''), JSON.stringify(st())); }
