#!/usr/bin/env python3
# Medians and per-round paired ratios of a scripts/measure-libvirt-tuning.sh runs.tsv (setups run in
# alternation, so round r of two setups ran back to back under the same load).
import sys, statistics as st
rows=[l.split('\t') for l in open(sys.argv[1]).read().split('\n')[1:] if l.strip()]
d={}
for s,r,c,dn,g in rows: d.setdefault(s,{})[int(r)]=(int(c),int(dn),int(g))
for s in d: print(s, 'n=%d'%len(d[s]), 'create med %d'%st.median(v[0] for v in d[s].values()), 'done med %d'%st.median(v[1] for v in d[s].values()), 'gone med %d'%st.median(v[2] for v in d[s].values()))
def paired(a,b,i):
    rs=[d[a][r][i]/d[b][r][i] for r in d[a] if r in d[b]]
    ds=[d[a][r][i]-d[b][r][i] for r in d[a] if r in d[b]]
    return st.median(rs), st.median(ds), len(rs)
for a,b in [('uni','stock'),('uni-conf','uni'),('uni-ns','uni'),('uni-cg','uni'),('uni-sc','uni'),('uni-conf','stock')]:
    if a in d and b in d:
        for i,n in [(0,'create'),(1,'done')]:
            r,df,k=paired(a,b,i); print(f'{a}/{b} {n}: median ratio {r:.2f}, median diff {df:+.0f} ms (n={k})')
