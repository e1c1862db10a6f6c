"""Charts for the result pages, drawn on the server as SVG (`svg` the parts every chart shares,
`plots` the bar, box and curve charts, `maps` the US state map), built from a run's results, a
population's composition and two runs' comparison (`pages`)."""
