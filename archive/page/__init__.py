"""What a page is made of beyond its HTML: the requisites a reader's browser loads
(stylesheets, images, scripts, fonts), found in the markup and in CSS, and the plan
of which to fetch. Pure: no network, no database.
"""
