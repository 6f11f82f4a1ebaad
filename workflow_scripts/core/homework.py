"""Facts of the homework itself (torch-free, so rules, figures and reports can import them)."""

# The food-11 class names in label order.
CLASS_NAMES = [
    "Bread",
    "Dairy product",
    "Dessert",
    "Egg",
    "Fried food",
    "Meat",
    "Noodles/Pasta",
    "Rice",
    "Seafood",
    "Soup",
    "Vegetable/Fruit",
]

# The homework bundle's 10 observed images and their labels.
HW9_IMAGES = ["0_0", "1_1", "1_2", "2_3", "2_4", "3_5", "5_6", "6_7", "8_8", "9_9"]
HW9_LABELS = [0, 1, 1, 2, 2, 3, 5, 6, 8, 9]

# The model the homework uses for each BERT role (anything else is a substitute, and the report
# says so).
HOMEWORK_MODELS = {"embedding": "bert-base-chinese", "mlm": "bert-base-cased", "qa": "hw9_bert"}
