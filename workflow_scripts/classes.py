"""The food-11 class names in label order (torch-free, so figures and reports can import it)."""

CLASS_NAMES = [
    "Bread", "Dairy product", "Dessert", "Egg", "Fried food", "Meat",
    "Noodles/Pasta", "Rice", "Seafood", "Soup", "Vegetable/Fruit",
]
