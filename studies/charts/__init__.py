"""Charts for the result pages, drawn on the server as SVG (`svg`), built from a run's results,
a population's composition and two runs' comparison (`pages`)."""
