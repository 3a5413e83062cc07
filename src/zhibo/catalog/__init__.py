"""The product pool: categories, brands and the products brands publish for streamers to sell.

Search, bulk import and the shelf-selection rules grow here (issue: product pool).
"""
