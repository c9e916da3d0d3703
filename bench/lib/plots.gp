# plots.gp - the benchmark's PNG plots, from the .dat files cwbench.py writes into `dir`.
#
# Why this file exists: latency against offered load and throughput against table sizes are
# read at a glance or not at all. Called as: gnuplot -e "dir='RESULTS'" plots.gp
set terminal pngcairo size 900,560 noenhanced font ",10"
set grid
set key top left

f = dir.'/latency.dat'
if (system('test -s '.f.' && echo 1') eq '1') {
	set output dir.'/latency.png'
	set title 'Clearway latency RX->TX under offered load (one worker)'
	set xlabel 'offered load, % of the measured maximum (memif)'
	set ylabel 'microseconds'
	set logscale y
	plot f using 1:3 with linespoints title 'p50', \
	     f using 1:4 with linespoints title 'p99', \
	     f using 1:5 with linespoints title 'p99.9'
	unset logscale y
}

set output dir.'/scaling.png'
set multiplot layout 2,2 title 'Clearway throughput as tables and messages grow (one worker)'
set ylabel 'msgs/s'
set yrange [0:*]
do for [d in 'enterprises rules items batch'] {
	g = dir.'/scaling-'.d.'.dat'
	if (system('test -s '.g.' && echo 1') eq '1') {
		set title d
		set xlabel (d eq 'items' ? 'mean items per declaration' : (d eq 'batch' ? 'mean messages per datagram (cwgen --batch)' : d))
		if (d eq 'enterprises' || d eq 'rules') { set logscale x } else { unset logscale x }
		plot g using 1:2 with linespoints notitle
	}
}
unset multiplot
