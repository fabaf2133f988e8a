"""Alert tools for your own footage: calibration on normal video (:mod:`.calibration`), the
online score and thresholds in an evaluation (:mod:`.evaluation`), watching a video
(:mod:`.watch`) and region-level localisation, RBDC/TBDC (:mod:`.localization`).

The core never imports this package; the command line puts the two together."""
